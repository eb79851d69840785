//! What an answered call learned, as the simulator makes it up: a summary
//! that names the call's own variables, a sentiment, a transcript of a few
//! turns, a pre-signed-looking recording URL, and one value per configured
//! post-call analysis field. Nothing is stored per call: everything is drawn
//! again, whenever a record is written, from the call's own seeded stream
//! (the seed and the call's index), so one seed gives the same data on every
//! read and every run, and a record stays 64 bytes in the ledger.
//!
//! Only `completed` calls carry it (the API's "unanswered calls carry none
//! of it"); the caller decides that, this module only draws and writes.

use std::collections::BTreeMap;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::json;
use super::rng::SplitMix64;

/// Stream salt of per-call post-call data (apart from the call's fate, so
/// changing the analysis fields never changes how calls end).
const POST_CALL_STREAM: u64 = 0x5A11_DA7A_5A11_DA7A;
/// The fake host of recordings: `.invalid` never resolves (RFC 2606).
const RECORDING_HOST: &str = "https://recordings.sandbox.invalid";
/// A variable's value is cut to this many characters in the made-up text.
const MAX_VAR_CHARS: usize = 120;
/// Bounds on what `post_call_analysis` may hold.
const MAX_FIELDS: usize = 100;
const MAX_CHOICES: usize = 100;
const MAX_NAME_CHARS: usize = 64;
const MAX_CHOICE_CHARS: usize = 200;

/// The analysis fields an agent extracts, each with the values the
/// simulator picks from, in the order the config lists them (YAML:
/// `post_call_analysis: {appointment_confirmed: [yes, no, reschedule]}`).
/// The first field is the call's main outcome: the summary and transcript
/// follow its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisFields(Vec<(String, Vec<String>)>);

impl AnalysisFields {
    /// Fields in this order; a later duplicate name replaces nothing (the
    /// config reader refuses duplicates before it gets here).
    pub fn new<N: Into<String>, C: Into<String>>(
        fields: impl IntoIterator<Item = (N, Vec<C>)>,
    ) -> AnalysisFields {
        AnalysisFields(
            fields
                .into_iter()
                .map(|(n, c)| (n.into(), c.into_iter().map(Into::into).collect()))
                .collect(),
        )
    }

    /// Each field and its choices, in config order.
    pub fn fields(&self) -> &[(String, Vec<String>)] {
        &self.0
    }

    /// Every problem, each with its fix, for [`super::Config::validate`].
    pub(crate) fn check(&self, problems: &mut Vec<String>) {
        let key = "post_call_analysis";
        if self.0.len() > MAX_FIELDS {
            problems.push(format!("{key}: at most {MAX_FIELDS} fields"));
        }
        for (name, choices) in self.0.iter().take(MAX_FIELDS) {
            let shown = super::request::quote(name);
            if !is_text(name, MAX_NAME_CHARS) {
                problems.push(format!(
                    "{key}: field {shown} must be 1 to {MAX_NAME_CHARS} characters with no control characters, e.g. appointment_confirmed"
                ));
            }
            if choices.is_empty() || choices.len() > MAX_CHOICES {
                problems.push(format!(
                    "{key}.{shown}: list 1 to {MAX_CHOICES} choices, e.g. [yes, no, reschedule]"
                ));
            }
            if choices.iter().any(|c| !is_text(c, MAX_CHOICE_CHARS)) {
                problems.push(format!(
                    "{key}.{shown}: each choice must be 1 to {MAX_CHOICE_CHARS} characters with no control characters"
                ));
            }
        }
    }
}

fn is_text(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

impl Default for AnalysisFields {
    fn default() -> Self {
        AnalysisFields::new([("appointment_confirmed", vec!["yes", "no", "reschedule"])])
    }
}

impl Serialize for AnalysisFields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, choices) in &self.0 {
            map.serialize_entry(name, choices)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for AnalysisFields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = AnalysisFields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping of field name to a list of choices, e.g. {appointment_confirmed: [yes, no, reschedule]}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnalysisFields, A::Error> {
                let mut fields: Vec<(String, Vec<String>)> = Vec::new();
                while let Some((name, choices)) = map.next_entry::<String, Vec<String>>()? {
                    if fields.iter().any(|(n, _)| *n == name) {
                        return Err(serde::de::Error::custom(format!(
                            "post_call_analysis lists the field {name:?} twice"
                        )));
                    }
                    fields.push((name, choices));
                }
                Ok(AnalysisFields(fields))
            }
        }
        d.deserialize_map(Fields)
    }
}

/// How the main analysis value reads in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reaction {
    Confirmed,
    Declined,
    Reschedule,
    /// A value with no known meaning, or no analysis field at all.
    Other,
}

impl Reaction {
    fn of(choice: Option<&str>) -> Reaction {
        let Some(word) = choice else {
            return Reaction::Other;
        };
        match word.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "confirmed" | "confirm" | "y" => Reaction::Confirmed,
            "no" | "false" | "declined" | "decline" | "cancel" | "cancelled" | "n" => {
                Reaction::Declined
            }
            "reschedule" | "rescheduled" | "rescheduling" => Reaction::Reschedule,
            _ => Reaction::Other,
        }
    }

    /// Weights of positive, neutral, negative.
    fn sentiment_weights(self) -> [f64; 3] {
        match self {
            Reaction::Confirmed => [0.7, 0.25, 0.05],
            Reaction::Declined => [0.15, 0.45, 0.4],
            Reaction::Reschedule => [0.3, 0.55, 0.15],
            Reaction::Other => [0.4, 0.45, 0.15],
        }
    }
}

const SENTIMENTS: [&str; 3] = ["positive", "neutral", "negative"];

/// One call's post-call data, drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PostCall<'a> {
    pub(crate) summary: String,
    pub(crate) sentiment: &'static str,
    pub(crate) transcript: Vec<(&'static str, String)>,
    pub(crate) recording_url: String,
    pub(crate) analysis: Vec<(&'a str, &'a str)>,
}

/// The call's variables that the made-up text uses.
#[derive(Debug, Default)]
struct Facts {
    name: Option<String>,
    date: Option<String>,
    time: Option<String>,
    place: Option<String>,
}

impl Facts {
    /// Reads the record's variables (compact JSON of strings; "" for none).
    fn read(variables: &str) -> Facts {
        let vars: BTreeMap<String, String> = if variables.is_empty() {
            BTreeMap::new()
        } else {
            serde_json::from_str(variables).unwrap_or_default()
        };
        let pick = |names: &[&str]| {
            names.iter().find_map(|n| {
                let v = vars.get(*n)?.trim();
                (!v.is_empty()).then(|| cut(v))
            })
        };
        Facts {
            name: pick(&[
                "customer_name",
                "patient_name",
                "full_name",
                "name",
                "first_name",
                "contact_name",
            ]),
            date: pick(&["appointment_date", "date", "due_date"]),
            time: pick(&["appointment_time", "time"]),
            place: pick(&[
                "clinic_name",
                "business_name",
                "company_name",
                "company",
                "location",
            ]),
        }
    }

    /// "the appointment on 2026-06-12 at 10:30 at Sunrise Dental"
    fn subject(&self) -> String {
        let mut s = match &self.date {
            Some(d) => format!("the appointment on {d}"),
            None => "their upcoming appointment".to_string(),
        };
        if let (Some(t), Some(_)) = (&self.time, &self.date) {
            s.push_str(" at ");
            s.push_str(t);
        }
        if let Some(p) = &self.place {
            s.push_str(" at ");
            s.push_str(p);
        }
        s
    }
}

/// A variable's value, no longer than [`MAX_VAR_CHARS`] characters.
fn cut(v: &str) -> String {
    match v.char_indices().nth(MAX_VAR_CHARS) {
        Some((at, _)) => format!("{}...", &v[..at]),
        None => v.to_string(),
    }
}

/// `the customer` -> `The customer`; any first character, not only ASCII.
fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Draws the post-call data of call number `index`, whose id is `call_id`.
pub(crate) fn draw<'a>(
    fields: &'a AnalysisFields,
    seed: u64,
    index: u32,
    call_id: &str,
    variables: &str,
) -> PostCall<'a> {
    let mut rng = SplitMix64::stream(seed, POST_CALL_STREAM, u64::from(index));
    let analysis: Vec<(&str, &str)> = fields
        .fields()
        .iter()
        .map(|(name, choices)| {
            let i = (rng.next_u64() % choices.len().max(1) as u64) as usize;
            (name.as_str(), choices.get(i).map_or("", String::as_str))
        })
        .collect();
    let main = analysis.first().copied();
    let reaction = Reaction::of(main.map(|(_, v)| v));
    let facts = Facts::read(variables);
    let outcome = match (reaction, main) {
        (Reaction::Confirmed, _) => "confirmed".to_string(),
        (Reaction::Declined, _) => "declined".to_string(),
        (Reaction::Reschedule, _) => "asked to reschedule".to_string(),
        (Reaction::Other, Some((field, value))) => format!("answered {field}: {value}"),
        (Reaction::Other, None) => "listened to the reminder".to_string(),
    };
    let who = facts.name.as_deref().unwrap_or("the customer");
    let summary = match rng.next_u64() % 3 {
        0 => format!("Reminded {who} of {}; they {outcome}.", facts.subject()),
        1 => format!("Called {who} about {}; they {outcome}.", facts.subject()),
        _ => format!(
            "{} was reminded of {} and {outcome}.",
            capitalized(who),
            facts.subject()
        ),
    };
    let sentiment = SENTIMENTS[rng.weighted(&reaction.sentiment_weights())];
    let transcript = transcript(&facts, reaction, main, &mut rng);
    let mut recording_url = format!(
        "{RECORDING_HOST}/v1/recordings/{call_id}.mp3?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=604800&X-Amz-Signature="
    );
    for _ in 0..4 {
        recording_url.push_str(&format!("{:016x}", rng.next_u64()));
    }
    PostCall {
        summary,
        sentiment,
        transcript,
        recording_url,
        analysis,
    }
}

/// Five turns: greeting, answer, the reminder, the reply, the goodbye.
fn transcript(
    facts: &Facts,
    reaction: Reaction,
    main: Option<(&str, &str)>,
    rng: &mut SplitMix64,
) -> Vec<(&'static str, String)> {
    let from = facts.place.as_deref().unwrap_or("your provider");
    let greeting = match &facts.name {
        Some(n) => format!("Hello, this is a reminder call from {from}. Am I speaking with {n}?"),
        None => format!("Hello, this is a reminder call from {from}."),
    };
    let hello = ["Yes, speaking.", "Yes, that's me.", "Hi, yes."][(rng.next_u64() % 3) as usize];
    let reminder = match (&facts.date, &facts.time) {
        (Some(d), Some(t)) => {
            format!("You have an appointment on {d} at {t}. Will you be able to make it?")
        }
        (Some(d), None) => format!("You have an appointment on {d}. Will you be able to make it?"),
        _ => {
            "I'm calling about your upcoming appointment. Will you be able to make it?".to_string()
        }
    };
    let (reply, goodbye) = match reaction {
        Reaction::Confirmed => (
            "Yes, I'll be there.".to_string(),
            "Great, we'll see you then. Goodbye!",
        ),
        Reaction::Declined => (
            "No, I can't make it.".to_string(),
            "Thank you for letting us know. Goodbye.",
        ),
        Reaction::Reschedule => (
            "Could we move it to another day?".to_string(),
            "Of course, someone will call you to find a new time. Goodbye.",
        ),
        Reaction::Other => (
            main.map_or_else(|| "Okay.".to_string(), |(_, v)| format!("{v}.")),
            "Thank you, noted. Goodbye.",
        ),
    };
    vec![
        ("agent", greeting),
        ("user", hello.to_string()),
        ("agent", reminder),
        ("user", reply),
        ("agent", goodbye.to_string()),
    ]
}

/// Appends the post-call fields, each led by a comma, to a record being
/// written (the `{` and the fields before are the caller's).
pub(crate) fn write(out: &mut String, p: &PostCall<'_>) {
    out.push_str(",\"summary\":");
    json::string(out, &p.summary);
    out.push_str(",\"sentiment\":");
    json::string(out, p.sentiment);
    out.push_str(",\"transcript\":[");
    for (n, (role, content)) in p.transcript.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str("{\"role\":");
        json::string(out, role);
        out.push_str(",\"content\":");
        json::string(out, content);
        out.push('}');
    }
    out.push_str("],\"recording_url\":");
    json::string(out, &p.recording_url);
    out.push_str(",\"post_call_analysis\":{");
    for (n, (field, value)) in p.analysis.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        json::string(out, field);
        out.push(':');
        json::string(out, value);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: &str = r#"{"appointment_date":"2026-06-12","clinic_name":"Sunrise Dental","customer_name":"Ana Silva"}"#;

    fn record(p: &PostCall<'_>) -> serde_json::Value {
        let mut out = String::from("{\"call_id\":\"c\"");
        write(&mut out, p);
        out.push('}');
        serde_json::from_str(&out).expect("valid JSON")
    }

    #[test]
    fn summary_names_the_variables_and_follows_the_main_value() {
        let fields = AnalysisFields::default();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..60 {
            let p = draw(&fields, 1, i, "call_x", VARS);
            assert!(p.summary.contains("Ana Silva"), "{}", p.summary);
            assert!(p.summary.contains("2026-06-12"), "{}", p.summary);
            assert!(p.summary.contains("Sunrise Dental"), "{}", p.summary);
            let (field, value) = p.analysis[0];
            assert_eq!(field, "appointment_confirmed");
            let word = match value {
                "yes" => "confirmed",
                "no" => "declined",
                "reschedule" => "reschedule",
                other => panic!("{other}"),
            };
            assert!(p.summary.contains(word), "{value}: {}", p.summary);
            assert!(SENTIMENTS.contains(&p.sentiment));
            assert_eq!(p.transcript.len(), 5);
            assert!(
                p.recording_url
                    .starts_with("https://recordings.sandbox.invalid/")
            );
            assert!(p.recording_url.contains("call_x"));
            seen.insert(value);
        }
        assert_eq!(seen.len(), 3, "every choice is drawn: {seen:?}");
    }

    #[test]
    fn same_seed_and_index_same_data_and_others_differ() {
        let fields = AnalysisFields::default();
        assert_eq!(
            draw(&fields, 5, 3, "c", VARS),
            draw(&fields, 5, 3, "c", VARS)
        );
        let urls: std::collections::BTreeSet<String> = (0..20)
            .map(|i| draw(&fields, 5, i, "c", VARS).recording_url)
            .collect();
        assert_eq!(urls.len(), 20);
        assert_ne!(
            draw(&fields, 5, 3, "c", VARS).recording_url,
            draw(&fields, 6, 3, "c", VARS).recording_url
        );
    }

    #[test]
    fn configured_fields_each_get_a_value_and_text_is_valid_json() {
        let fields = AnalysisFields::new([
            ("callback", vec!["maybe \"later\"\n"]),
            ("score", vec!["1", "2"]),
        ]);
        let hostile = r#"{"customer_name":"\u0000 \" <b>","appointment_date":"é☎"}"#;
        for vars in [hostile, "", "not json", "{}"] {
            let p = draw(&fields, 1, 0, "c", vars);
            let v = record(&p);
            assert_eq!(v["post_call_analysis"]["callback"], "maybe \"later\"\n");
            assert!(["1", "2"].contains(&v["post_call_analysis"]["score"].as_str().unwrap()));
            assert_eq!(v["transcript"].as_array().unwrap().len(), 5);
            assert!(p.summary.contains("answered callback"), "{}", p.summary);
        }
        let long = format!(r#"{{"customer_name":"{}"}}"#, "é".repeat(10_000));
        assert!(draw(&fields, 1, 0, "c", &long).summary.len() < 1_000);
        let none = AnalysisFields::new::<&str, &str>([]);
        let v = record(&draw(&none, 1, 0, "c", VARS));
        assert_eq!(v["post_call_analysis"], serde_json::json!({}));
    }

    #[test]
    fn check_names_bad_fields() {
        let mut problems = Vec::new();
        AnalysisFields::new([("", vec!["a"]), ("ok", vec![]), ("x", vec!["\u{7}"])])
            .check(&mut problems);
        assert_eq!(problems.len(), 3, "{problems:?}");
        let mut problems = Vec::new();
        AnalysisFields::default().check(&mut problems);
        assert!(problems.is_empty());
    }
}
