//! Work taken in groups (issue 19): whoever hands in work while no group is running starts
//! a task that takes everything waiting at that moment, runs it as one group, and goes on
//! until nobody waits. No timer: alone, a member runs at once; under load, those that arrive
//! while a group runs go together in the next. The SQLite writer's group commits (`group`)
//! and the SQLite readers' refresh reads (`tokens`) are taken this way.

use std::future::Future;
use std::sync::{Arc, Mutex};

pub(super) struct Groups<M> {
    queue: Mutex<Queue<M>>,
}

struct Queue<M> {
    waiting: Vec<M>,
    running: bool,
}

impl<M> Default for Groups<M> {
    fn default() -> Self {
        Self {
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                running: false,
            }),
        }
    }
}

impl<M: Send + 'static> Groups<M> {
    /// Queues `member`; if no group is running, spawns the task that runs `run` on groups of
    /// at most `limit` members until none waits. The task is the queue's own, so a caller
    /// that goes away cannot cut a group short for the others.
    pub(super) fn submit<F, Fut>(self: &Arc<Self>, member: M, limit: usize, run: F)
    where
        F: Fn(Vec<M>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let start = {
            let mut queue = self.lock();
            queue.waiting.push(member);
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            let groups = Arc::clone(self);
            tokio::spawn(async move {
                while let Some(members) = groups.next(limit) {
                    run(members).await;
                }
            });
        }
    }

    /// The next group, or `None` (and the queue idle) when nobody waits.
    fn next(&self, limit: usize) -> Option<Vec<M>> {
        let mut queue = self.lock();
        if queue.waiting.is_empty() {
            queue.running = false;
            return None;
        }
        let take = queue.waiting.len().min(limit);
        Some(queue.waiting.drain(..take).collect())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue<M>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::{oneshot, Semaphore};

    /// Alone, a member runs at once in a group of one; members that arrive while a group
    /// runs go together in the next, at most `limit` at a time; every member is run once.
    #[tokio::test]
    async fn members_waiting_while_a_group_runs_go_together_in_the_next() {
        let groups = Arc::new(Groups::<(usize, oneshot::Sender<usize>)>::default());
        let sizes = Arc::new(Mutex::new(Vec::new()));
        // The first group is held until every other member is queued.
        let gate = Arc::new(Semaphore::new(0));
        let run = {
            let (sizes, gate) = (sizes.clone(), gate.clone());
            move |members: Vec<(usize, oneshot::Sender<usize>)>| {
                let (sizes, gate) = (sizes.clone(), gate.clone());
                async move {
                    if members[0].0 == 0 {
                        gate.acquire().await.unwrap().forget();
                    }
                    sizes.lock().unwrap().push(members.len());
                    for (i, done) in members {
                        done.send(i).unwrap();
                    }
                }
            }
        };
        let mut answers = Vec::new();
        for i in 0..11 {
            let (done, answer) = oneshot::channel();
            groups.submit((i, done), 4, run.clone());
            answers.push(answer);
            // The first member alone: its group has taken it before the others come.
            while !groups.lock().waiting.is_empty() && i == 0 {
                tokio::task::yield_now().await;
            }
        }
        gate.add_permits(1);
        for (i, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer.await.unwrap(), i);
        }
        assert_eq!(*sizes.lock().unwrap(), [1, 4, 4, 2]);

        // Idle again: the next member starts a group of its own.
        let (done, answer) = oneshot::channel();
        groups.submit((11, done), 4, run);
        assert_eq!(answer.await.unwrap(), 11);
        assert_eq!(sizes.lock().unwrap().last(), Some(&1));
    }
}
