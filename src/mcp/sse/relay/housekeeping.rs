//! The relay's upkeep, on a timer of its own while the instance relays: a crashed instance leaves its
//! queue and maybe overflow blobs behind, so every live instance stamps a heartbeat on its own queue
//! and sweeps queues with a stale heartbeat and overflow blobs older than the same bound
//! (`MCP_SSE_RELAY_STALE_SECS`). Both run every third of the bound, so a live queue is never
//! mistaken for a dead one.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use azure_core::http::StatusCode;
use azure_storage_queue::models::{ListQueuesIncludeType, QueueServiceClientListQueuesOptions};
use futures::TryStreamExt;
use tokio_util::sync::CancellationToken;

use super::{QUEUE_PREFIX, Relay, RelayError, queue_name};
use crate::storage::call::is_status;

/// Queue metadata key holding the owner's last sign of life (Unix seconds).
const HEARTBEAT_KEY: &str = "heartbeat";

/// Stamps and sweeps at once, then every third of the stale bound, until `stop`.
pub async fn run(relay: &Relay, stop: CancellationToken) {
    let mut every = tokio::time::interval(relay.stale_after / 3);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = stop.cancelled() => return,
        }
        stamp_heartbeat(relay).await;
        sweep_and_log(relay).await;
    }
}

async fn stamp_heartbeat(relay: &Relay) {
    let stamped = relay.within_budget(async {
        match relay.own_queue.set_metadata(&heartbeat_now(), None).await {
            Ok(_) => Ok(()),
            // Swept while this instance was thought dead: take it back.
            Err(e) if is_status(&e, StatusCode::NotFound) => relay.create_own_queue().await,
            Err(e) => Err(e.into()),
        }
    });
    if let Err(e) = stamped.await {
        tracing::warn!(error = %e, "could not stamp the SSE relay heartbeat");
    }
}

async fn sweep_and_log(relay: &Relay) {
    match relay.within_budget(sweep(relay)).await {
        Ok((0, 0)) => {}
        Ok((queues, blobs)) => {
            tracing::info!(queues, blobs, "swept SSE relay leftovers of dead instances")
        }
        Err(e) => tracing::warn!(error = %e, "SSE relay sweep failed"),
    }
}

/// Deletes relay queues whose heartbeat is older than the bound (or missing) and overflow blobs
/// older than the bound. Returns how many of each were deleted.
async fn sweep(relay: &Relay) -> Result<(usize, usize), RelayError> {
    let cutoff = unix_now().saturating_sub(relay.stale_after.as_secs());
    let own = queue_name(relay.instance.as_str());
    let options = QueueServiceClientListQueuesOptions {
        prefix: Some(QUEUE_PREFIX.to_string()),
        include: Some(vec![ListQueuesIncludeType::Metadata]),
        ..Default::default()
    };
    let mut pages = relay.service.list_queues(Some(options))?.into_pages();
    let mut stale = Vec::new();
    while let Some(page) = pages.try_next().await? {
        for item in page.into_model()?.queue_items {
            if let Some(name) = item.name
                && name != own
                && is_stale(item.metadata.as_ref(), cutoff)
            {
                stale.push(name);
            }
        }
    }
    let mut queues = 0;
    for name in stale {
        match relay.clients.queue(&name)?.delete(None).await {
            Ok(_) => queues += 1,
            Err(e) if is_status(&e, StatusCode::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok((queues, sweep_overflow(relay, cutoff).await?))
}

async fn sweep_overflow(relay: &Relay, cutoff: u64) -> Result<usize, RelayError> {
    let mut pages = relay.overflow.list_blobs(None)?.into_pages();
    let mut stale = Vec::new();
    loop {
        match pages.try_next().await {
            Ok(Some(page)) => {
                for item in page.into_model()?.blob_items {
                    let modified = item
                        .properties
                        .and_then(|p| p.last_modified)
                        .map(|t| t.unix_timestamp().max(0) as u64);
                    if let (Some(name), Some(modified)) = (item.name, modified)
                        && modified < cutoff
                    {
                        stale.push(name);
                    }
                }
            }
            Ok(None) => break,
            // No overflow container yet: nothing to sweep.
            Err(e) if is_status(&e, StatusCode::NotFound) => return Ok(0),
            Err(e) => return Err(e.into()),
        }
    }
    let mut blobs = 0;
    for name in stale {
        match relay.overflow.blob_client(&name).delete(None).await {
            Ok(_) => blobs += 1,
            Err(e) if is_status(&e, StatusCode::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(blobs)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A queue without a readable heartbeat (a crash before the first stamp, an older version) counts as stale.
fn is_stale(metadata: Option<&HashMap<String, String>>, cutoff: u64) -> bool {
    let beat = metadata
        .and_then(|m| m.get(HEARTBEAT_KEY))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    beat < cutoff
}

pub(super) fn heartbeat_now() -> HashMap<String, String> {
    HashMap::from([(HEARTBEAT_KEY.to_string(), unix_now().to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_stale_when_their_heartbeat_is_older_than_the_cutoff() {
        let beat = |v: &str| HashMap::from([(HEARTBEAT_KEY.to_string(), v.to_string())]);
        assert!(!is_stale(Some(&beat("1000")), 1000));
        assert!(!is_stale(Some(&beat("2000")), 1000));
        assert!(is_stale(Some(&beat("999")), 1000));
        assert!(is_stale(Some(&beat("not a number")), 1000));
        assert!(is_stale(Some(&HashMap::new()), 1000));
        assert!(is_stale(None, 1000));
        let fresh = heartbeat_now();
        assert!(!is_stale(Some(&fresh), unix_now().saturating_sub(600)));
    }
}
