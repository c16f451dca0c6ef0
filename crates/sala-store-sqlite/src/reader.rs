//! The readers: a few threads, each with its own `rusqlite` connection, that run the reads
//! the chat path makes most (history pages, a room's changes, a session, a user).
//!
//! Why not sqlx's pool for these (issue 20): sqlx hands each row of a result from its
//! worker thread to the async task one at a time, copying every value; profiled under the
//! history benchmark, a third of the server's time was threads switching and another part
//! those copies. Here a read runs whole on a reader thread and only its result comes back.
//! WAL lets the readers run beside the writers; each read sees the last commit before it.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use rusqlite::Connection;
use sala_store::StoreError;
use tokio::sync::oneshot;

use crate::rows;

/// Reader threads: reads are short and the machine Sala aims at has a few cores.
const READERS: usize = 4;
/// Prepared statements kept per reader.
const STATEMENT_CACHE: usize = 64;

type Read = Box<dyn FnOnce(&Connection) + Send>;

enum Command {
    Read(Read),
    /// Ends the one reader that takes it.
    Stop(oneshot::Sender<()>),
}

/// The handle the store keeps; the threads end when its last clone is dropped.
#[derive(Clone)]
pub(crate) struct Readers {
    commands: mpsc::Sender<Command>,
}

impl Readers {
    /// Opens the readers' connections (the schema must be in place) and starts them.
    pub(crate) fn start(path: &Path) -> Result<Self, StoreError> {
        let (commands, queued) = mpsc::channel();
        let queued = Arc::new(Mutex::new(queued));
        for number in 0..READERS {
            let connection = open(path)?;
            let queued = Arc::clone(&queued);
            std::thread::Builder::new()
                .name(format!("sala-sqlite-read-{number}"))
                .spawn(move || run(connection, &queued))
                .map_err(|err| StoreError::Unavailable(Box::new(err)))?;
        }
        Ok(Self { commands })
    }

    /// Runs `read` on a reader's connection and answers what it found.
    pub(crate) async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (done, outcome) = oneshot::channel();
        let job: Read = Box::new(move |connection| {
            // A caller that stopped waiting needs no answer.
            let _ = done.send(read(connection));
        });
        self.commands
            .send(Command::Read(job))
            .map_err(|_| closed())?;
        outcome.await.map_err(|_| closed())?
    }

    /// Stops every reader after the reads queued before, and waits until their
    /// connections are closed.
    pub(crate) async fn close(&self) {
        let mut stopped = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let (done, stop) = oneshot::channel();
            if self.commands.send(Command::Stop(done)).is_err() {
                return; // Already gone.
            }
            stopped.push(stop);
        }
        for stop in stopped {
            let _ = stop.await;
        }
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the readers are closed".into())
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    // Read-write so that it may take part in WAL's shared memory like the others; never
    // writing, which `query_only` makes sure of.
    rows::open(path, "PRAGMA query_only = ON;", STATEMENT_CACHE)
}

fn run(connection: Connection, queued: &Mutex<mpsc::Receiver<Command>>) {
    let stopped = loop {
        // The lock is held only while waiting for the next command, not while reading.
        let command = queued.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match command {
            Ok(Command::Read(read)) => read(&connection),
            Ok(Command::Stop(done)) => break Some(done),
            Err(_) => break None, // The store is gone.
        }
    };
    if let Err((_, err)) = connection.close() {
        tracing::warn!(error = %err, "closing a reader's connection");
    }
    if let Some(done) = stopped {
        let _ = done.send(());
    }
}
