//! The workspace rules a valid body must also pass (403): the caller ID is
//! one of the workspace's numbers, the agent version exists and is
//! published, and the destination is not under a blocked prefix. Numbers and
//! versions are indexed so a call record stores two small integers instead
//! of two strings.

use std::collections::HashMap;

use super::config::{Config, VersionState};
use super::request::{NewCall, quote};

/// The config's numbers and versions, indexed.
#[derive(Debug)]
pub(crate) struct Workspace {
    numbers: Vec<String>,
    number_index: HashMap<String, u16>,
    versions: Vec<String>,
    version_index: HashMap<String, (u16, VersionState)>,
    blocked: Vec<String>,
}

/// A body the workspace accepts: the caller ID and version as indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admitted {
    pub(crate) from: u16,
    pub(crate) agent: u16,
}

impl Workspace {
    pub(crate) fn new(config: &Config) -> Workspace {
        let numbers: Vec<String> = config
            .numbers
            .iter()
            .take(usize::from(u16::MAX))
            .cloned()
            .collect();
        let number_index = numbers
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u16))
            .collect();
        let versions: Vec<String> = config
            .agent_versions
            .keys()
            .take(usize::from(u16::MAX))
            .cloned()
            .collect();
        let version_index = config
            .agent_versions
            .iter()
            .take(usize::from(u16::MAX))
            .enumerate()
            .map(|(i, (id, state))| (id.clone(), (i as u16, *state)))
            .collect();
        Workspace {
            numbers,
            number_index,
            versions,
            version_index,
            blocked: config.blocked_prefixes.clone(),
        }
    }

    /// The number of index `i`.
    pub(crate) fn number(&self, i: u16) -> &str {
        self.numbers.get(usize::from(i)).map_or("", String::as_str)
    }

    /// The agent version of index `i`.
    pub(crate) fn version(&self, i: u16) -> &str {
        self.versions.get(usize::from(i)).map_or("", String::as_str)
    }

    /// The index of a workspace number, for the `from` filter.
    pub(crate) fn number_index(&self, n: &str) -> Option<u16> {
        self.number_index.get(n).copied()
    }

    /// Every workspace rule the call breaks, or its indices.
    pub(crate) fn admit(&self, call: &NewCall) -> Result<Admitted, Vec<String>> {
        let mut problems = Vec::new();
        let from = self.number_index.get(&call.from_number).copied();
        if from.is_none() {
            problems.push(format!(
                "from_number {} is not a number of this workspace; use one of the workspace's numbers",
                quote(&call.from_number)
            ));
        }
        let agent = match self.version_index.get(&call.agent_version_id) {
            Some((i, VersionState::Published)) => Some(*i),
            Some((_, VersionState::Draft)) => {
                problems.push(format!(
                    "agent version {} is not published; publish it before placing calls",
                    quote(&call.agent_version_id)
                ));
                None
            }
            None => {
                problems.push(format!(
                    "agent version {} does not exist in this workspace",
                    quote(&call.agent_version_id)
                ));
                None
            }
        };
        if let Some(prefix) = self
            .blocked
            .iter()
            .find(|p| call.to_number.starts_with(p.as_str()))
        {
            problems.push(format!(
                "destination {} is blocked: calls to {prefix} are not enabled for this workspace (Telephony Config)",
                call.to_number
            ));
        }
        match (from, agent) {
            (Some(from), Some(agent)) if problems.is_empty() => Ok(Admitted { from, agent }),
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(from: &str, to: &str, agent: &str) -> NewCall {
        NewCall {
            from_number: from.into(),
            to_number: to.into(),
            agent_version_id: agent.into(),
            variables: String::new(),
            metadata: String::new(),
        }
    }

    #[test]
    fn rules_and_their_words() {
        let c = Config {
            blocked_prefixes: vec!["+44".into()],
            ..Config::default()
        };
        let w = Workspace::new(&c);
        let ok = w
            .admit(&call("+14155550100", "+16505550199", "av_sandbox"))
            .unwrap();
        assert_eq!(w.number(ok.from), "+14155550100");
        assert_eq!(w.version(ok.agent), "av_sandbox");
        let m = w
            .admit(&call("+14155550199", "+447700900123", "av_draft"))
            .unwrap_err();
        assert_eq!(m.len(), 3);
        assert!(m[0].contains("from_number"));
        assert!(m[1].contains("agent version") && m[1].contains("not published"));
        assert!(m[2].contains("destination") && m[2].contains("+44"));
        let m = w
            .admit(&call("+14155550100", "+16505550199", "av_nope"))
            .unwrap_err();
        assert!(m[0].contains("agent version") && m[0].contains("does not exist"));
    }

    #[test]
    fn a_pool_of_numbers_and_versions_each_admitted_and_refusals_name_the_value() {
        let c = Config {
            numbers: vec![
                "+14155550100".into(),
                "+442079460000".into(),
                "+12125550100".into(),
            ],
            agent_versions: [
                ("av_en", VersionState::Published),
                ("av_es", VersionState::Published),
                ("av_fr", VersionState::Draft),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            ..Config::default()
        };
        let w = Workspace::new(&c);
        for from in &c.numbers {
            for agent in ["av_en", "av_es"] {
                let ok = w.admit(&call(from, "+16505550199", agent)).unwrap();
                assert_eq!(w.number(ok.from), from);
                assert_eq!(w.version(ok.agent), agent);
                assert_eq!(w.number_index(from), Some(ok.from));
            }
        }
        let m = w
            .admit(&call("+13125550100", "+16505550199", "av_en"))
            .unwrap_err();
        assert_eq!(m.len(), 1);
        assert!(m[0].contains("\"+13125550100\""), "{m:?}");
        let m = w
            .admit(&call("+12125550100", "+16505550199", "av_fr"))
            .unwrap_err();
        assert!(
            m[0].contains("\"av_fr\"") && m[0].contains("not published"),
            "{m:?}"
        );
        let m = w
            .admit(&call("+12125550100", "+16505550199", "av_de"))
            .unwrap_err();
        assert!(
            m[0].contains("\"av_de\"") && m[0].contains("does not exist"),
            "{m:?}"
        );
    }
}
