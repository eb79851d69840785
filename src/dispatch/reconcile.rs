//! Reconciliation: did a request whose answer was lost create a call?
//!
//! The API lists calls to a number since a time (newest first, paged). A
//! call is ours when its metadata carries this campaign, key and round
//! (callplan sets them on every call). The answer is one of three: found
//! (adopt its call_id and status), confirmed absent (every page was read and
//! nothing could be ours: safe to dial), or cannot tell (the list failed, or
//! a call to that number from our caller ID and agent carries no metadata to
//! tell by): the row stays `in_doubt` and is not dialled.

use std::future::Future;

use crate::api::{LookupError, META_CAMPAIGN, META_KEY, META_ROUND};
use crate::wire::{Call, CallList};

/// Pages read at most before giving up (200 calls a page).
pub const MAX_PAGES: u32 = 20;

/// What a lookup concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Found(Box<Call>),
    Absent,
    Unknown(String),
    /// The key or workspace is refused: stop the run.
    Fatal(LookupError),
}

/// Whom a lookup is for.
#[derive(Debug, Clone)]
pub struct Wanted<'a> {
    pub campaign: &'a str,
    pub key: &'a str,
    pub round: u32,
    pub from_number: &'a str,
    pub agent_version_id: &'a str,
}

#[derive(Debug, PartialEq)]
enum Match {
    Yes,
    No,
    CannotTell,
    /// This row and round, but from another caller ID than the request's.
    OtherCaller,
}

fn meta<'c>(call: &'c Call, k: &str) -> Option<&'c str> {
    call.metadata.as_ref()?.get(k)?.as_str()
}

fn matches(call: &Call, w: &Wanted<'_>) -> Match {
    match (meta(call, META_CAMPAIGN), meta(call, META_KEY)) {
        (Some(c), Some(k)) => {
            let round_ok = match meta(call, META_ROUND) {
                Some(r) => r.trim().parse::<u32>().ok() == Some(w.round),
                None => w.round == 1,
            };
            // Ours, but from another caller ID than this request's: not
            // the call looked for, and too close to it to dial again.
            let from_ok = call.from_number.is_empty() || call.from_number == w.from_number;
            if c == w.campaign && k == w.key && round_ok && from_ok {
                Match::Yes
            } else if c == w.campaign && k == w.key && round_ok {
                Match::OtherCaller
            } else {
                Match::No
            }
        }
        _ => {
            // No callplan metadata: not ours unless it could be (same caller
            // ID and agent, or fields the API left out).
            let from_ok = call.from_number.is_empty() || call.from_number == w.from_number;
            let agent_ok =
                call.agent_version_id.is_empty() || call.agent_version_id == w.agent_version_id;
            if from_ok && agent_ok {
                Match::CannotTell
            } else {
                Match::No
            }
        }
    }
}

/// Some(why the row stays in doubt) when the lost answer was a 2xx (one
/// without a readable call_id): the API said the call was created, so a
/// list that does not show it proves nothing, and the row is never sent
/// again on its own.
pub fn said_created(http_status: Option<u16>) -> Option<String> {
    let status = http_status.filter(|s| (200..=299).contains(s))?;
    Some(format!(
        "the API answered HTTP {status} (created) without a readable call_id and the call \
         list does not show the call: not dialled again (--redial-in-doubt would)"
    ))
}

/// Reads pages from `fetch` (page numbers from 1) until the answer is known.
pub async fn lookup<F, Fut>(w: &Wanted<'_>, mut fetch: F) -> Lookup
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<CallList, LookupError>>,
{
    let mut unsure = None;
    for page in 1..=MAX_PAGES {
        let list = match fetch(page).await {
            Ok(l) => l,
            Err(e) if e.fatal => return Lookup::Fatal(e),
            Err(e) => return Lookup::Unknown(format!("call lookup failed: {}", e.message)),
        };
        let mut found: Option<Call> = None;
        for call in list.data {
            match matches(&call, w) {
                Match::Yes => {
                    if let Some(f) = &found {
                        tracing::warn!(
                            "key {} has more than one call: {} and {}",
                            w.key,
                            f.call_id,
                            call.call_id
                        );
                    } else {
                        found = Some(call);
                    }
                }
                Match::No => {}
                Match::OtherCaller => {
                    unsure.get_or_insert_with(|| {
                        format!(
                            "call {} is this row's and round's but left from {}, not {}",
                            call.call_id, call.from_number, w.from_number
                        )
                    });
                }
                Match::CannotTell => {
                    unsure.get_or_insert_with(|| {
                        format!(
                            "call {} to this number carries no callplan metadata to match on",
                            call.call_id
                        )
                    });
                }
            }
        }
        if let Some(call) = found {
            return Lookup::Found(Box::new(call));
        }
        if list.unreadable > 0 {
            unsure.get_or_insert_with(|| {
                format!(
                    "{} calls to this number on page {page} could not be read",
                    list.unreadable
                )
            });
        }
        if !list.has_more {
            return match unsure {
                Some(why) => Lookup::Unknown(why),
                None => Lookup::Absent,
            };
        }
    }
    Lookup::Unknown(format!(
        "more than {} calls to this number since the request",
        MAX_PAGES * 200
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn wanted() -> Wanted<'static> {
        Wanted {
            campaign: "june",
            key: "k1",
            round: 1,
            from_number: "+14155550100",
            agent_version_id: "av_1",
        }
    }

    fn call(id: &str, meta: Option<&[(&str, &str)]>) -> Call {
        Call {
            call_id: id.into(),
            status: "ringing".into(),
            from_number: "+14155550100".into(),
            to_number: "+16505550199".into(),
            agent_version_id: "av_1".into(),
            created_at: String::new(),
            started_at: None,
            ended_at: None,
            duration_s: None,
            end_reason: None,
            variables: None,
            metadata: meta.map(|m| {
                m.iter()
                    .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
                    .collect::<BTreeMap<_, _>>()
            }),
            ..Call::default()
        }
    }

    fn page(calls: Vec<Call>, has_more: bool) -> CallList {
        CallList {
            data: calls,
            page: 1,
            limit: 200,
            total: 0,
            has_more,
            unreadable: 0,
        }
    }

    fn ours(id: &str, key: &str, round: &str) -> Call {
        call(
            id,
            Some(&[
                ("callplan_campaign", "june"),
                ("callplan_key", key),
                ("callplan_round", round),
            ]),
        )
    }

    async fn run(pages: Vec<Result<CallList, LookupError>>) -> (Lookup, u32) {
        let pages = std::sync::Mutex::new(pages.into_iter());
        let mut asked = 0;
        let l = lookup(&wanted(), |_| {
            asked += 1;
            let next = pages
                .lock()
                .unwrap()
                .next()
                .expect("asked past the last page");
            async move { next }
        })
        .await;
        (l, asked)
    }

    #[tokio::test]
    async fn found_on_a_later_page() {
        let (l, asked) = run(vec![
            Ok(page(vec![ours("a", "k2", "1"), ours("b", "k1", "2")], true)),
            Ok(page(vec![ours("c", "k1", "1")], true)),
        ])
        .await;
        assert!(
            matches!(l, Lookup::Found(ref c) if c.call_id == "c"),
            "{l:?}"
        );
        assert_eq!(asked, 2);
    }

    #[tokio::test]
    async fn absent_only_when_every_page_was_read() {
        let (l, asked) = run(vec![
            Ok(page(vec![ours("a", "k2", "1")], true)),
            Ok(page(vec![], false)),
        ])
        .await;
        assert_eq!(l, Lookup::Absent);
        assert_eq!(asked, 2);
    }

    #[tokio::test]
    async fn an_unreadable_record_means_cannot_tell_never_absent() {
        let mut p = page(vec![ours("a", "k2", "1")], false);
        p.unreadable = 1;
        let (l, _) = run(vec![Ok(p)]).await;
        assert!(
            matches!(&l, Lookup::Unknown(why) if why.contains("could not be read")),
            "{l:?}"
        );
        // Our call found on the same page still wins.
        let mut p = page(vec![ours("b", "k1", "1")], false);
        p.unreadable = 1;
        let (l, _) = run(vec![Ok(p)]).await;
        assert!(matches!(&l, Lookup::Found(c) if c.call_id == "b"), "{l:?}");
    }

    #[tokio::test]
    async fn other_campaign_or_caller_is_not_ours() {
        let mut other = call(
            "x",
            Some(&[("callplan_campaign", "july"), ("callplan_key", "k1")]),
        );
        other.status = "queued".into();
        let mut manual = call("m", None);
        manual.from_number = "+14155559999".into();
        let (l, _) = run(vec![Ok(page(vec![other, manual], false))]).await;
        assert_eq!(l, Lookup::Absent);
    }

    #[tokio::test]
    async fn a_call_without_metadata_from_our_caller_cannot_be_ruled_out() {
        let (l, _) = run(vec![Ok(page(vec![call("m", None)], false))]).await;
        assert!(
            matches!(l, Lookup::Unknown(ref m) if m.contains("call m")),
            "{l:?}"
        );
        let (l, _) = run(vec![Ok(page(
            vec![call("m", Some(&[("crm", "1")]))],
            false,
        ))])
        .await;
        assert!(matches!(l, Lookup::Unknown(_)), "{l:?}");
    }

    #[tokio::test]
    async fn our_key_from_another_caller_id_is_neither_adopted_nor_ruled_out() {
        let mut c = ours("o", "k1", "1");
        c.from_number = "+442079460000".into();
        let (l, _) = run(vec![Ok(page(vec![c.clone()], false))]).await;
        assert!(
            matches!(&l, Lookup::Unknown(why) if why.contains("left from +442079460000")),
            "{l:?}"
        );
        let w = Wanted {
            from_number: "+442079460000",
            ..wanted()
        };
        let got = lookup(&w, |_| {
            let p = page(vec![c.clone()], false);
            async move { Ok(p) }
        })
        .await;
        assert!(
            matches!(&got, Lookup::Found(f) if f.call_id == "o"),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn missing_round_means_round_one() {
        let c = call(
            "r",
            Some(&[("callplan_campaign", "june"), ("callplan_key", "k1")]),
        );
        let (l, _) = run(vec![Ok(page(vec![c], false))]).await;
        assert!(matches!(l, Lookup::Found(_)));
    }

    #[tokio::test]
    async fn failures_cannot_tell_or_stop() {
        let e = LookupError {
            http_status: Some(503),
            message: "busy".into(),
            fatal: false,
        };
        let (l, _) = run(vec![Err(e)]).await;
        assert!(matches!(l, Lookup::Unknown(ref m) if m.contains("busy")));
        let e = LookupError {
            http_status: Some(401),
            message: "bad key".into(),
            fatal: true,
        };
        let (l, _) = run(vec![Err(e)]).await;
        assert!(matches!(l, Lookup::Fatal(_)));
    }

    #[tokio::test]
    async fn endless_pages_give_up() {
        let pages = (0..MAX_PAGES).map(|_| Ok(page(vec![], true))).collect();
        let (l, asked) = run(pages).await;
        assert!(matches!(l, Lookup::Unknown(_)));
        assert_eq!(asked, MAX_PAGES);
    }
}
