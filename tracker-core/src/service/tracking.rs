//! Sessions, activity and screenshots: a company's lists and one's own.

use std::collections::BTreeSet;

use super::*;
use crate::access::AccessKind;
use crate::authz::{Action, Principal, Target, authorize};
use crate::error::{Error, Result};
use crate::paging::{Page, PageRequest};
use crate::protocol::*;
use crate::store::*;
use crate::tracking::*;

impl<S: Store + ?Sized> Tracker<S> {
    pub(super) fn tracking_filter(
        ids: Option<BTreeSet<UserId>>,
        q: &TrackingQuery,
    ) -> TrackingFilter {
        TrackingFilter {
            users: ids,
            from: q.from,
            to: q.to,
            ids: None,
        }
    }

    /// Work sessions the caller may see, ordered by start.
    pub async fn sessions(
        &self,
        p: &Principal,
        q: &TrackingQuery,
        page: &PageRequest,
    ) -> Result<Page<WorkSession>> {
        let (company, ids) = self.scope(p, Action::ReadTracking, q.user_id).await?;
        let found = self
            .store
            .tracking()
            .list_sessions(company, &Self::tracking_filter(ids, q), page)
            .await?;
        self.record_reads(
            p,
            AccessKind::Sessions,
            found.items.iter().map(|x| x.user_id),
        )
        .await?;
        Ok(found)
    }

    /// Activity events the caller may see, ordered by start.
    pub async fn activity(
        &self,
        p: &Principal,
        q: &TrackingQuery,
        page: &PageRequest,
    ) -> Result<Page<ActivityEvent>> {
        let (company, ids) = self.scope(p, Action::ReadTracking, q.user_id).await?;
        let found = self
            .store
            .tracking()
            .list_activity(company, &Self::tracking_filter(ids, q), page)
            .await?;
        self.record_reads(
            p,
            AccessKind::Activity,
            found.items.iter().map(|e| e.user_id),
        )
        .await?;
        Ok(found)
    }

    /// Screenshot metadata the caller may see, ordered by time taken.
    pub async fn screenshots(
        &self,
        p: &Principal,
        q: &TrackingQuery,
        page: &PageRequest,
    ) -> Result<Page<Screenshot>> {
        let (company, ids) = self.scope(p, Action::ReadTracking, q.user_id).await?;
        let found = self
            .store
            .tracking()
            .list_screenshots(company, &Self::tracking_filter(ids, q), page)
            .await?;
        self.record_reads(
            p,
            AccessKind::Screenshots,
            found.items.iter().map(|s| s.user_id),
        )
        .await?;
        Ok(found)
    }

    /// One screenshot with its image, if the caller may see it.
    pub async fn screenshot_image(
        &self,
        p: &Principal,
        id: ScreenshotId,
    ) -> Result<(Screenshot, Vec<u8>)> {
        let shot = self.visible_screenshot(p, id).await?;
        let bytes = self.image_of(&shot).await?;
        self.record_reads(p, AccessKind::ScreenshotImages, [shot.user_id])
            .await?;
        Ok((shot, bytes))
    }

    /// One screenshot's thumbnail, if the caller may see it. The first view
    /// draws it with `make` from the image and keeps it in the blob store
    /// beside the image; later views read it back. `make` is async so that a
    /// caller can draw on a blocking thread. When it cannot draw one (an
    /// image it cannot decode), the image itself is returned.
    pub async fn screenshot_thumbnail<F, Fut>(
        &self,
        p: &Principal,
        id: ScreenshotId,
        make: F,
    ) -> Result<(Screenshot, Preview)>
    where
        F: FnOnce(Vec<u8>) -> Fut + Send,
        Fut: std::future::Future<Output = Option<Vec<u8>>> + Send,
    {
        let shot = self.visible_screenshot(p, id).await?;
        self.record_reads(p, AccessKind::ScreenshotImages, [shot.user_id])
            .await?;
        let key = shot.thumbnail_key();
        if let Some(thumb) = self.blobs.get(&key).await? {
            return Ok((shot, Preview::Thumbnail(thumb)));
        }
        let image = self.image_of(&shot).await?;
        match make(image).await {
            Some(thumb) => {
                self.blobs.put(&key, thumb.clone()).await?;
                Ok((shot, Preview::Thumbnail(thumb)))
            }
            None => {
                let image = self.image_of(&shot).await?;
                Ok((shot, Preview::Original(image)))
            }
        }
    }

    async fn image_of(&self, shot: &Screenshot) -> Result<Vec<u8>> {
        self.blobs
            .get(&shot.blob_key)
            .await?
            .ok_or(Error::not_found("screenshot image"))
    }

    async fn visible_screenshot(&self, p: &Principal, id: ScreenshotId) -> Result<Screenshot> {
        let company = Self::company_of(p, Action::ReadTracking)?.id;
        let shot = self
            .store
            .tracking()
            .get_screenshot(company, id)
            .await?
            .ok_or(Error::not_found("screenshot"))?;
        authorize(
            p,
            Action::ReadTracking,
            Target::Owned {
                company,
                owner: shot.user_id,
                entity: "screenshot",
            },
        )?;
        Ok(shot)
    }

    /// The caller's own work sessions.
    pub async fn my_sessions(
        &self,
        p: &Principal,
        page: &PageRequest,
    ) -> Result<Page<WorkSession>> {
        let q = TrackingQuery {
            user_id: Some(p.user_id()),
            ..Default::default()
        };
        self.sessions(p, &q, page).await
    }
}
