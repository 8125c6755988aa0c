//! `--postgres-url` in the phases: the batch phase's baseline. The same
//! kind of batches, each one raw multi-row `INSERT` straight into the
//! store's event table and indexes (in a schema of its own, made and
//! dropped here), on as many connections as the batch phase: what
//! PostgreSQL does for the rows alone, without the request, its checks,
//! the rollups or the usage marks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracker_sqlx::{PgConfig, PgStore};

use crate::{Load, Samples};

/// The scratch schema.
const SCHEMA: &str = "loadgen_raw_insert";

/// `connections` workers inserting `--batch-size` events a statement for
/// `secs`.
pub async fn phase(
    load: &Arc<Load>,
    url: &str,
    connections: usize,
    secs: f64,
) -> Result<Samples, crate::Error> {
    let config = PgConfig {
        schema: SCHEMA.to_owned(),
        token_cache: None,
        ..PgConfig::default()
    };
    let store = Arc::new(PgStore::connect(url, config).await?);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (load, store) = (Arc::clone(load), Arc::clone(&store));
            tokio::spawn(async move {
                let mut s = Samples::default();
                let (company, user) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
                while Instant::now() < deadline {
                    let agent = load.agent();
                    let events = load.recorders[agent]
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .batch(load.batch_size);
                    let mut qb = sqlx::QueryBuilder::new(
                        "INSERT INTO activity_events (company_id, id, user_id, session_id, started_at, duration_seconds, kind, app, window_title, url) ",
                    );
                    qb.push_values(&events, |mut row, e| {
                        row.push_bind(company)
                            .push_bind(e.id)
                            .push_bind(user)
                            .push_bind(None::<uuid::Uuid>)
                            .push_bind(e.at)
                            .push_bind(e.seconds as i32)
                            .push_bind("active")
                            .push_bind(e.app)
                            .push_bind(e.title.as_str())
                            .push_bind(e.url.as_deref());
                    });
                    qb.push(" ON CONFLICT DO NOTHING");
                    let began = Instant::now();
                    match qb.build().execute(store.pool()).await {
                        Ok(done) => {
                            s.micros.push(began.elapsed().as_micros() as u64);
                            s.events += done.rows_affected();
                        }
                        Err(_) => s.errors += 1,
                    }
                }
                s
            })
        })
        .collect();
    let all = crate::gather(workers).await;
    store.drop_schema().await?;
    Ok(all)
}
