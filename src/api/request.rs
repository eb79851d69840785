//! What callplan sends: the `POST /v1/calls` body for one recipient and
//! round ([`CallRequest`]), built from the parts a whole campaign shares
//! ([`Campaign`]), and its idempotency key. The key is derived, never
//! random, so the same row in the same round names the same request in
//! every run and every version; no state has to be kept to resend it.

use std::collections::BTreeMap;

use crate::wire::CreateCall;

/// A `POST /v1/calls` ready to send: its body and its idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRequest {
    pub body: CreateCall,
    /// `<campaign>:<key>:<round>`: exact where the API honours it.
    pub idempotency_key: String,
}

/// The parts of a campaign every request shares.
#[derive(Debug, Clone)]
pub struct Campaign {
    pub name: String,
    pub from_number: String,
    pub agent_version_id: String,
    /// The plan's `metadata:`, sent with every call.
    pub metadata: BTreeMap<String, String>,
}

/// Metadata keys callplan sets on every call; reconciliation matches them.
pub const META_CAMPAIGN: &str = "callplan_campaign";
pub const META_KEY: &str = "callplan_key";
pub const META_ROUND: &str = "callplan_round";

impl CallRequest {
    /// The request for one recipient and round. Metadata: the plan's, then
    /// the row's (which wins on a clash), then callplan's own keys (which
    /// always win: reconciliation relies on them).
    pub fn new(
        campaign: &Campaign,
        key: &str,
        round: u32,
        to_number: &str,
        variables: &BTreeMap<String, String>,
        row_metadata: &BTreeMap<String, String>,
    ) -> CallRequest {
        Self::of_row(
            campaign,
            key,
            round,
            to_number,
            variables.clone(),
            row_metadata.clone(),
        )
    }

    /// [`CallRequest::new`], taking the row's variables and metadata (read
    /// back from the recipients file for this request, dropped with it).
    pub fn of_row(
        campaign: &Campaign,
        key: &str,
        round: u32,
        to_number: &str,
        variables: BTreeMap<String, String>,
        row_metadata: BTreeMap<String, String>,
    ) -> CallRequest {
        let mut metadata = campaign.metadata.clone();
        metadata.extend(row_metadata);
        metadata.insert(META_CAMPAIGN.into(), campaign.name.clone());
        metadata.insert(META_KEY.into(), key.to_string());
        metadata.insert(META_ROUND.into(), round.to_string());
        CallRequest {
            body: CreateCall {
                from_number: campaign.from_number.clone(),
                to_number: to_number.to_string(),
                agent_version_id: campaign.agent_version_id.clone(),
                variables,
                metadata,
            },
            idempotency_key: idempotency_key(&campaign.name, key, round),
        }
    }

    /// This request from a row's own caller ID and agent version, where it
    /// has them (an empty one keeps the campaign's). The idempotency key
    /// does not change: it names the row and round, whatever they call from.
    pub fn with_caller(mut self, from_number: &str, agent_version_id: &str) -> CallRequest {
        if !from_number.is_empty() {
            self.body.from_number = from_number.to_string();
        }
        if !agent_version_id.is_empty() {
            self.body.agent_version_id = agent_version_id.to_string();
        }
        self
    }

    /// What `--dry-run` prints: the request as it would leave, key masked.
    pub fn dry_run_json(&self, calls_url: &str) -> serde_json::Value {
        serde_json::json!({
            "method": "POST",
            "url": calls_url,
            "headers": {
                "Authorization": "Bearer ********",
                "Content-Type": "application/json",
                "Idempotency-Key": self.idempotency_key,
            },
            "body": self.body,
        })
    }
}

/// Longest `Idempotency-Key` sent (the common limit of APIs that honour one).
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// `<campaign>:<key>:<round>`. A header carries visible ASCII only, so other
/// bytes (spaces, accents) are percent-encoded; a key still longer than
/// [`MAX_IDEMPOTENCY_KEY`] is replaced by a stable 128-bit hash of it. The
/// result is the same for the same row in every run and every version.
pub fn idempotency_key(campaign: &str, key: &str, round: u32) -> String {
    let raw = format!("{campaign}:{key}:{round}");
    let mut enc = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    if enc.len() <= MAX_IDEMPOTENCY_KEY {
        return enc;
    }
    let fnv = |basis: u64| {
        raw.bytes().fold(basis, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let prefix: String = enc.chars().take(100).collect();
    format!(
        "{prefix}:h{:016x}{:016x}:{round}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x6c62_272e_07bb_0142)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign() -> Campaign {
        Campaign {
            name: "june".into(),
            from_number: "+14155550100".into(),
            agent_version_id: "av_1".into(),
            metadata: BTreeMap::from([
                ("source".into(), "plan".into()),
                ("callplan_key".into(), "spoofed".into()),
            ]),
        }
    }

    #[test]
    fn request_carries_metadata_and_idempotency_key() {
        let vars = BTreeMap::from([("customer_name".into(), "Alex".into())]);
        let meta = BTreeMap::from([("source".into(), "row".into()), ("crm".into(), "c1".into())]);
        let r = CallRequest::new(&campaign(), "p-7", 2, "+16505550199", &vars, &meta);
        assert_eq!(r.idempotency_key, "june:p-7:2");
        assert_eq!(r.body.to_number, "+16505550199");
        assert_eq!(r.body.variables, vars);
        let m = &r.body.metadata;
        assert_eq!(
            m["source"], "row",
            "the row's metadata wins over the plan's"
        );
        assert_eq!(m["crm"], "c1");
        assert_eq!(m["callplan_campaign"], "june");
        assert_eq!(m["callplan_key"], "p-7", "callplan's keys always win");
        assert_eq!(m["callplan_round"], "2");
        let dry = r.dry_run_json("https://x/v1/calls").to_string();
        assert!(dry.contains("Bearer ********") && dry.contains("june:p-7:2"));
    }

    #[test]
    fn a_row_caller_id_and_agent_version_replace_the_campaigns() {
        let none = BTreeMap::new();
        let r = CallRequest::new(&campaign(), "k", 1, "+442079460123", &none, &none);
        let same = r.clone().with_caller("", "");
        assert_eq!(same, r);
        let own = r.clone().with_caller("+442079460000", "av_es");
        assert_eq!(own.body.from_number, "+442079460000");
        assert_eq!(own.body.agent_version_id, "av_es");
        assert_eq!(own.idempotency_key, r.idempotency_key);
    }

    #[test]
    fn idempotency_keys_are_visible_ascii_and_bounded() {
        assert_eq!(idempotency_key("june", "p-7", 1), "june:p-7:1");
        assert_eq!(
            idempotency_key("june", "José García", 2),
            "june:Jos%C3%A9%20Garc%C3%ADa:2"
        );
        assert_eq!(idempotency_key("june", "100%", 1), "june:100%25:1");
        let long = "x".repeat(1000);
        let a = idempotency_key("june", &long, 1);
        assert!(a.len() <= MAX_IDEMPOTENCY_KEY, "{}", a.len());
        assert!(a.bytes().all(|b| b.is_ascii_graphic()));
        assert_eq!(a, idempotency_key("june", &long, 1), "stable");
        assert_ne!(a, idempotency_key("june", &long, 2));
        assert_ne!(a, idempotency_key("june", &format!("{long}y"), 1));
    }
}
