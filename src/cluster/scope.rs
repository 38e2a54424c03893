//! Which namespaces an install serves (`--watch-namespace`): every one, or
//! a list of them. The controller and the endpoint of one install take
//! the same scope; each watch, list and refusal beyond it follows from
//! here.

use std::fmt;

use kube::{Api, Client};

use crate::replica::peers_file::is_namespace;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Every namespace (a cluster-wide install).
    #[default]
    Cluster,
    /// These namespaces only, sorted and distinct, at least one.
    Namespaces(Vec<String>),
}

impl Scope {
    /// The scope `--watch-namespace` names: none (or an empty value) is
    /// every namespace; else one namespace or several separated by commas.
    pub fn parse(value: Option<&str>) -> Result<Scope, String> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(Scope::Cluster);
        };
        let mut names = Vec::new();
        for name in value.split(',').map(str::trim) {
            if !is_namespace(name) {
                return Err(format!(
                    "--watch-namespace: {name:?} is not a namespace name (lowercase letters, digits and '-', at most 63); several are separated by commas"
                ));
            }
            names.push(name.to_owned());
        }
        names.sort();
        names.dedup();
        Ok(Scope::Namespaces(names))
    }

    /// Whether objects of `namespace` are served.
    pub fn serves(&self, namespace: &str) -> bool {
        match self {
            Scope::Cluster => true,
            Scope::Namespaces(names) => names.iter().any(|n| n == namespace),
        }
    }

    /// What each watch or list covers: one for every namespace (`None`),
    /// or one per namespace served.
    pub fn watched(&self) -> Vec<Option<&str>> {
        match self {
            Scope::Cluster => vec![None],
            Scope::Namespaces(names) => names.iter().map(|n| Some(n.as_str())).collect(),
        }
    }

    /// One `Api` over `K` per watch (see [`Scope::watched`]).
    pub fn apis<K>(&self, client: &Client) -> Vec<Api<K>>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        self.watched()
            .into_iter()
            .map(|namespace| super::watch::scoped(client, namespace))
            .collect()
    }
}

/// In messages: `every namespace`, `namespace a`, `namespaces a, b`.
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Cluster => f.write_str("every namespace"),
            Scope::Namespaces(names) if names.len() == 1 => write!(f, "namespace {}", names[0]),
            Scope::Namespaces(names) => write!(f, "namespaces {}", names.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_is_every_namespace_or_a_list_of_them() {
        for none in [None, Some(""), Some("  ")] {
            assert_eq!(Scope::parse(none).unwrap(), Scope::Cluster);
        }
        let one = Scope::parse(Some("team-a")).unwrap();
        assert_eq!(one.watched(), vec![Some("team-a")]);
        assert_eq!(one.to_string(), "namespace team-a");
        let two = Scope::parse(Some(" team-b, team-a,team-b ")).unwrap();
        assert_eq!(
            two,
            Scope::Namespaces(vec!["team-a".into(), "team-b".into()])
        );
        assert_eq!(two.watched(), vec![Some("team-a"), Some("team-b")]);
        assert_eq!(two.to_string(), "namespaces team-a, team-b");
        assert!(two.serves("team-a") && two.serves("team-b") && !two.serves("team-c"));
        assert!(Scope::Cluster.serves("anything"));
        assert_eq!(Scope::Cluster.watched(), vec![None]);
        assert_eq!(Scope::Cluster.to_string(), "every namespace");
    }

    #[test]
    fn a_scope_that_names_no_namespace_is_refused_saying_which() {
        for bad in ["Team-A", "team-a,", "a,,b", "-a", "a b"] {
            let error = Scope::parse(Some(bad)).unwrap_err();
            assert!(error.starts_with("--watch-namespace: "), "{bad}: {error}");
        }
        let error = Scope::parse(Some("team-a,Team-B")).unwrap_err();
        assert!(error.contains("\"Team-B\""), "{error}");
    }
}
