//! Reading and number checking in parallel, results in file order.
//!
//! Checking a number against libphonenumber's metadata is most of
//! `validate`'s work and depends on nothing but the cell, so it runs on
//! worker threads: one thread reads the file into batches of records, the
//! workers check each batch's number cells, and the calling thread receives
//! the batches back in file order and does everything that needs order or
//! shared state (duplicates, findings, rows). Channels are bounded, so memory
//! stays at a few batches whatever the file size; batches are recycled.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};

use crate::phone::{Checked, Rules};
use crate::recipients::{InputError, Record, RecordSource};

/// Records per batch: large enough to amortize channel traffic, small
/// enough to keep the pipeline full on small files.
const BATCH: usize = 512;

/// What a worker works out for one record: everything that needs only the
/// record itself.
pub(crate) struct Prepared {
    /// Every cell empty or white space.
    pub blank: bool,
    /// The first cell that is not UTF-8.
    pub non_utf8: Option<usize>,
    /// The check of the number cell, when there is a number column.
    pub number: Option<Checked>,
}

struct Done {
    seq: u64,
    records: Vec<Record>,
    prepared: Vec<Prepared>,
}

fn prepare(rec: &Record, number: Option<usize>, rules: &Rules) -> Prepared {
    let blank = rec.is_blank();
    Prepared {
        blank,
        non_utf8: if blank { None } else { rec.first_non_utf8() },
        number: match number {
            Some(i) if !blank => Some(rules.check(&rec.text(i))),
            _ => None,
        },
    }
}

/// Threads to check numbers on: one per core, at most 4; the environment
/// variable `CALLPLAN_THREADS` overrides it (1: everything on the calling
/// thread, as the benchmark compares).
fn workers() -> usize {
    std::env::var("CALLPLAN_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 4)
}

/// Calls `f` with every remaining record of `reader` (a CSV reader or a
/// workbook's sheet), in file order, and what [`prepare`] found in it (the
/// number cell is column `number`). Gives the reader back at the end (how
/// much of the file it read).
pub(crate) fn for_each_prepared<S: RecordSource + Send>(
    mut reader: S,
    number: Option<usize>,
    rules: Rules,
    mut f: impl FnMut(&Record, Prepared),
) -> Result<S, InputError> {
    let workers = workers();
    if workers < 2 {
        let mut rec = Record::default();
        while reader.read_record(&mut rec)? {
            let prepared = prepare(&rec, number, &rules);
            f(&rec, prepared);
        }
        return Ok(reader);
    }
    let (job_tx, job_rx) = mpsc::sync_channel::<(u64, Vec<Record>)>(workers * 2);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (recycle_tx, recycle_rx) = mpsc::channel::<Vec<Record>>();
    std::thread::scope(|s| {
        let (done_tx, done_rx) = mpsc::sync_channel::<Done>(workers * 2);
        let read = s.spawn(move || {
            read_batches(&mut reader, job_tx, recycle_rx)?;
            Ok(reader)
        });
        for _ in 0..workers {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            s.spawn(move || {
                loop {
                    let job = job_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((seq, records)) = job else { break };
                    let prepared = records.iter().map(|r| prepare(r, number, &rules)).collect();
                    if done_tx
                        .send(Done {
                            seq,
                            records,
                            prepared,
                        })
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(job_rx);
        drop(done_tx);
        let mut pending = BTreeMap::new();
        let mut next = 0u64;
        for done in done_rx {
            pending.insert(done.seq, done);
            while let Some(d) = pending.remove(&next) {
                for (rec, prepared) in d.records.iter().zip(d.prepared) {
                    f(rec, prepared);
                }
                next += 1;
                let _ = recycle_tx.send(d.records);
            }
        }
        match read.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

fn read_batches<S: RecordSource>(
    reader: &mut S,
    jobs: mpsc::SyncSender<(u64, Vec<Record>)>,
    recycled: Receiver<Vec<Record>>,
) -> Result<(), InputError> {
    for seq in 0u64.. {
        let mut batch = recycled.try_recv().unwrap_or_default();
        let mut n = 0;
        loop {
            if n == batch.len() {
                batch.push(Record::default());
            }
            let Some(rec) = batch.get_mut(n) else { break };
            if !reader.read_record(rec)? {
                break;
            }
            n += 1;
            if n == BATCH {
                break;
            }
        }
        batch.truncate(n);
        if n == 0 || jobs.send((seq, batch)).is_err() || n < BATCH {
            break;
        }
    }
    Ok(())
}
