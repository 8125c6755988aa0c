//! Appending to an audit chain inside the caller's transaction: every
//! audited write ends with it.

use sqlx::{PgConnection, Row};
use tracker_core::audit::{AuditEvent, ChainHead, NewAuditEvent};

use crate::codec::{self, R, chain_key, int};
use crate::error::db;
use crate::sql::q;

/// Appends an event after its chain's head. The upsert locks the head row,
/// so concurrent appends to one chain take turns; the primary key refuses
/// a reused sequence number.
pub(crate) async fn append(conn: &mut PgConnection, event: NewAuditEvent) -> R<AuditEvent> {
    let key = chain_key(event.chain);
    let row = q(
        "INSERT INTO audit_heads (company_id, seq, hash) VALUES ($1, 0, '')
         ON CONFLICT (company_id) DO UPDATE SET seq = audit_heads.seq
         RETURNING seq, hash",
    )
    .bind(key)
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    let seq: i64 = row.try_get("seq").map_err(db)?;
    let head = (seq > 0)
        .then(|| -> R<ChainHead> {
            Ok(ChainHead {
                seq: u64::try_from(seq).unwrap_or(0),
                hash: row.try_get("hash").map_err(db)?,
            })
        })
        .transpose()?;
    let e = event.link(head.as_ref());
    let actor =
        serde_json::to_value(&e.actor).map_err(|err| codec::corrupt("actor", err.to_string()))?;
    q("WITH event AS (
           INSERT INTO audit_events (company_id, seq, id, actor, action, description, details, client_ip, at, prev_hash, hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11))
       UPDATE audit_heads SET seq = $2, hash = $11 WHERE company_id = $1")
    .bind(key)
    .bind(int(e.seq))
    .bind(e.id.0)
    .bind(actor)
    .bind(e.action.as_str())
    .bind(e.description.clone())
    .bind(e.details.clone())
    .bind(e.client_ip.clone())
    .bind(e.at)
    .bind(e.prev_hash.clone())
    .bind(e.hash.clone())
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(e)
}
