//! Pre-aggregated metrics: each series (a name and up to two dimensions) keeps its sum, count,
//! minimum and maximum until the exporter's next flush sends them as one metric item. Recording is
//! one short lock and no allocation; the series are bounded by the tools, outcomes and failure kinds.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::SystemTime;

use super::envelope::Item;

/// Tool calls: one value per call, its duration in milliseconds (count = calls).
pub const TOOL_CALL_MS: &str = "MCP tool call duration (ms)";
/// Storage failures seen by tool calls, by kind (`refused`, `unavailable`, `budget_expired`).
pub const STORAGE_FAILURES: &str = "MCP storage failures";
/// Open SSE sessions of this instance, sampled at each flush.
pub const SSE_SESSIONS: &str = "MCP open SSE sessions";
/// Requests received through the SSE relay (a measure of the relay queue's traffic).
pub const RELAYED_MESSAGES: &str = "MCP relayed messages";

/// A series' dimensions: name and value, both fixed strings.
pub type Dimensions = [Option<(&'static str, &'static str)>; 2];

/// The series are few (tools times outcomes, failure kinds): a list scanned by comparison is
/// cheaper than hashing the key.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<Vec<((&'static str, Dimensions), Aggregate)>>,
    sse_sessions: AtomicI64,
}

#[derive(Clone, Copy)]
struct Aggregate {
    sum: f64,
    count: u64,
    min: f64,
    max: f64,
}

impl Metrics {
    /// Adds one value to a series.
    pub fn record(&self, name: &'static str, dimensions: Dimensions, value: f64) {
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let key = (name, dimensions);
        match series.iter_mut().find(|(k, _)| *k == key) {
            Some((_, a)) => {
                a.sum += value;
                a.count += 1;
                a.min = a.min.min(value);
                a.max = a.max.max(value);
            }
            None => series.push((
                key,
                Aggregate {
                    sum: value,
                    count: 1,
                    min: value,
                    max: value,
                },
            )),
        }
    }

    pub fn sse_session_opened(&self) {
        self.sse_sessions.fetch_add(1, Ordering::Relaxed);
    }

    pub fn sse_session_closed(&self) {
        self.sse_sessions.fetch_sub(1, Ordering::Relaxed);
    }

    /// The series recorded since the last drain, plus the gauges, as metric items.
    pub fn drain(&self) -> Vec<Item> {
        let now = SystemTime::now();
        let taken = std::mem::take(&mut *self.series.lock().unwrap_or_else(|p| p.into_inner()));
        let open = self.sse_sessions.load(Ordering::Relaxed) as f64;
        let gauge = Item::Metric {
            name: SSE_SESSIONS,
            sum: open,
            count: 1,
            min: open,
            max: open,
            dimensions: vec![],
            time: now,
        };
        taken
            .into_iter()
            .map(|((name, dimensions), a)| Item::Metric {
                name,
                sum: a.sum,
                count: a.count,
                min: a.min,
                max: a.max,
                dimensions: dimensions.into_iter().flatten().collect(),
                time: now,
            })
            .chain(std::iter::once(gauge))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_aggregate_until_drained() {
        let m = Metrics::default();
        let get = [Some(("tool", "get_snippet")), Some(("outcome", "ok"))];
        m.record(TOOL_CALL_MS, get, 4.0);
        m.record(TOOL_CALL_MS, get, 2.0);
        m.record(TOOL_CALL_MS, [Some(("tool", "hello_mcp")), None], 1.0);
        m.sse_session_opened();
        m.sse_session_opened();
        m.sse_session_closed();
        let items = m.drain();
        assert_eq!(items.len(), 3);
        let found = items
            .iter()
            .find_map(|i| match i {
                Item::Metric {
                    name,
                    sum,
                    count,
                    min,
                    max,
                    dimensions,
                    ..
                } if *name == TOOL_CALL_MS && dimensions.len() == 2 => {
                    Some((*sum, *count, *min, *max))
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(found, (6.0, 2, 2.0, 4.0));
        assert!(items.iter().any(
            |i| matches!(i, Item::Metric { name, sum, .. } if *name == SSE_SESSIONS && *sum == 1.0)
        ));
        // Drained: only the gauge comes back.
        assert_eq!(m.drain().len(), 1);
    }
}
