//! The trace a change belongs to: the W3C `traceparent` of the request that made it, as the
//! adapter that took the request says (`within`). Events remember it, so that the webhook
//! deliveries of a change continue its trace. The core only carries the value; reading,
//! checking and writing trace headers is the adapter's work.

use std::future::Future;

tokio::task_local! {
    static TRACE_PARENT: Option<String>;
}

/// Runs `work` with `traceparent` as the trace of the changes it makes.
pub async fn within<F: Future>(traceparent: Option<String>, work: F) -> F::Output {
    TRACE_PARENT.scope(traceparent, work).await
}

/// The `traceparent` of the work running now, if it has one.
pub fn current() -> Option<String> {
    TRACE_PARENT.try_with(Clone::clone).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_trace_is_the_one_of_the_work_running_and_none_outside() {
        assert_eq!(current(), None);
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_string();
        let seen = within(Some(parent.clone()), async { current() }).await;
        assert_eq!(seen, Some(parent));
        assert_eq!(within(None, async { current() }).await, None);
        assert_eq!(current(), None);
    }
}
