//! `Limit`/`Marker` paging for the List operations.
//!
//! A marker is opaque to clients (AWS: "do not attempt to construct this
//! value"): the base64 of the listing's name and the sort key of the last
//! item served. Paging resumes after that key, so items deleted between
//! pages do not break it, and a marker that is not one we issued for this
//! listing is refused with `InvalidMarkerException` instead of quietly
//! ending the listing.

use serde_json::{Value, json};

use super::ApiError;
use super::wire::{check_range, check_text};
use crate::b64;

/// One List operation's paging.
pub(super) struct Listing {
    /// Tags this listing's markers, so one listing's marker is refused by another.
    name: &'static str,
    /// Items per page when the request has no `Limit`.
    default: usize,
    /// Items per page at most, whatever `Limit` says (within AWS's 1–1000).
    cap: usize,
}

pub(super) const KEYS: Listing = Listing::new("keys", 100, 1000);
pub(super) const ALIASES: Listing = Listing::new("aliases", 100, 1000);
pub(super) const ROTATIONS: Listing = Listing::new("rotations", 100, 1000);
/// ListResourceTags: "between 1 and 50 … defaults to 50" (AWS's documentation).
pub(super) const TAGS: Listing = Listing::new("tags", 50, 50);
pub(super) const POLICIES: Listing = Listing::new("policies", 100, 1000);
pub(super) const GRANTS: Listing = Listing::new("grants", 50, 100);
pub(super) const CUSTOM_KEY_STORES: Listing = Listing::new("custom-key-stores", 100, 1000);

/// One page of a listing and the marker for the next, if there is more.
pub(super) struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl Listing {
    const fn new(name: &'static str, default: usize, cap: usize) -> Self {
        Listing { name, default, cap }
    }

    /// The page of `items` (in `sort_key` order) that `limit` and `marker` ask for.
    pub(super) fn page<T>(
        &self,
        items: Vec<T>,
        limit: Option<i64>,
        marker: Option<&str>,
        sort_key: impl Fn(&T) -> String,
    ) -> Result<Page<T>, ApiError> {
        let limit = match limit {
            None => self.default,
            Some(l) => {
                check_range("limit", l, 1, 1000)?;
                (l as usize).min(self.cap)
            }
        };
        let after = marker.map(|m| self.decode(m)).transpose()?;
        let mut items: Vec<(String, T)> = items.into_iter().map(|i| (sort_key(&i), i)).collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let start = after.map_or(0, |after| items.partition_point(|(k, _)| *k <= after));
        let mut rest = items.into_iter().skip(start);
        let page: Vec<_> = rest.by_ref().take(limit).collect();
        let next = match rest.next() {
            Some(_) => page.last().map(|(k, _)| self.encode(k)),
            None => None,
        };
        Ok(Page {
            items: page.into_iter().map(|(_, i)| i).collect(),
            next,
        })
    }

    fn encode(&self, sort_key: &str) -> String {
        b64::encode(format!("{}:{sort_key}", self.name).as_bytes())
    }

    fn decode(&self, marker: &str) -> Result<String, ApiError> {
        check_text("marker", marker, 1, 1024)?;
        if marker.chars().any(|c| !('\u{20}'..='\u{ff}').contains(&c)) {
            return Err(ApiError::validation(
                "marker",
                marker,
                "Member must satisfy regular expression pattern: [\\u0020-\\u00FF]*",
            ));
        }
        let invalid = || ApiError::InvalidMarker("Marker is invalid.".into());
        let bytes = b64::decode(marker).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        text.strip_prefix(self.name)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::to_owned)
            .ok_or_else(invalid)
    }
}

/// A List response: `body` with `Truncated` and, if there is more, `NextMarker`.
pub(super) fn response(mut body: Value, next: Option<String>) -> Value {
    body["Truncated"] = json!(next.is_some());
    if let Some(next) = next {
        body["NextMarker"] = json!(next);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("k{i:02}")).collect()
    }

    fn all_pages(listing: &Listing, items: &[String], limit: Option<i64>) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = listing
                .page(items.to_vec(), limit, marker.as_deref(), Clone::clone)
                .unwrap();
            pages.push(page.items);
            match page.next {
                Some(next) => marker = Some(next),
                None => return pages,
            }
        }
    }

    #[test]
    fn pages_cover_every_item_once_in_order() {
        let items = keys(7);
        let mut shuffled = items.clone();
        shuffled.reverse();
        let pages = all_pages(&KEYS, &shuffled, Some(3));
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
        assert_eq!(pages.concat(), items);
        // A last page that is exactly full says there is no more.
        assert_eq!(all_pages(&KEYS, &keys(6), Some(3)).len(), 2);
        assert_eq!(all_pages(&KEYS, &[], None), [Vec::<String>::new()]);
    }

    #[test]
    fn limits_default_cap_and_are_validated() {
        assert_eq!(all_pages(&KEYS, &keys(150), None)[0].len(), 100);
        assert_eq!(all_pages(&TAGS, &keys(60), None)[0].len(), 50);
        assert_eq!(all_pages(&TAGS, &keys(60), Some(1000))[0].len(), 50);
        for bad in [0, 1001, -1] {
            let err = KEYS.page(keys(3), Some(bad), None, Clone::clone);
            assert!(matches!(err, Err(ApiError::Validation(_))), "{bad}");
        }
    }

    #[test]
    fn a_marker_survives_the_deletion_of_the_item_it_names() {
        let items = keys(5);
        let first = KEYS
            .page(items.clone(), Some(2), None, Clone::clone)
            .unwrap();
        let fewer: Vec<_> = items.into_iter().filter(|k| k != "k01").collect();
        let rest = KEYS
            .page(fewer, Some(10), first.next.as_deref(), Clone::clone)
            .unwrap();
        assert_eq!(rest.items, ["k02", "k03", "k04"]);
    }

    #[test]
    fn markers_we_did_not_issue_for_this_listing_are_refused() {
        let alias_marker = ALIASES
            .page(keys(3), Some(1), None, Clone::clone)
            .unwrap()
            .next
            .unwrap();
        let raw_key = b64::encode(b"k00");
        for marker in ["zzz", "k00", "@@@@", &raw_key, &alias_marker] {
            let err = KEYS.page(keys(3), None, Some(marker), Clone::clone);
            assert!(
                matches!(err, Err(ApiError::InvalidMarker(_))),
                "{marker} was accepted"
            );
        }
        for marker in [String::new(), "A".repeat(1025)] {
            let err = KEYS.page(keys(3), None, Some(&marker), Clone::clone);
            assert!(matches!(err, Err(ApiError::Validation(_))));
        }
    }
}
