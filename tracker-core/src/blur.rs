//! The [`ScreenshotBlur`] port: how the server blurs screenshots itself
//! when the policy asks for blur, whatever the agent claims to have done.

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::tracking::ImageFormat;

/// Blurs a screenshot beyond reading before anything of it is stored. The
/// [`Tracker`](crate::Tracker) calls it on every upload while the policy
/// asks for blurred screenshots, and writes only what it returns: the
/// original never reaches the blob store.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ScreenshotBlur: Send + Sync + 'static {
    /// `image` (of `format`) blurred, encoded in an accepted format.
    /// An image it cannot decode is refused with a validation error on
    /// `image`.
    async fn blur(&self, image: Vec<u8>, format: ImageFormat) -> Result<Vec<u8>>;
}

const _: Option<&dyn ScreenshotBlur> = None;

/// The blur of a [`Tracker`](crate::Tracker) built without one: refuses
/// every upload that must be blurred (with `invalid_state`), so a policy
/// that asks for blur never lets a sharp image through.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBlur;

#[async_trait]
impl ScreenshotBlur for NoBlur {
    async fn blur(&self, _image: Vec<u8>, _format: ImageFormat) -> Result<Vec<u8>> {
        Err(Error::invalid_state(
            "the policy asks for blurred screenshots and this deployment cannot blur them: \
             the service was built without a blur",
        ))
    }
}
