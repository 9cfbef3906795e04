//! CommitLog recovery: find every record, verify what the checkpoint does not cover, cut a torn
//! tail, refuse corruption in the middle.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use super::checkpoint::Checkpoint;
use super::commit_log::{CommitLogConfig, Inner};
use super::record::{self, RecordMeta, BLANK_MAGIC, RECORD_HEADER_LEN, RECORD_MAGIC};
use super::segment::{parse_segment_name, Segment};
use super::{Result, StoreError};

/// What recovery found when it looked at one position.
enum Probe {
    Record(record::RecordHeader),
    /// BLANK filler or too little room: continue at the next segment.
    SegmentEnd,
    /// Zeros: the log ends here.
    End,
    Bad(String),
}

fn probe(seg: &Segment, rel: usize, verify_crc: bool) -> Probe {
    let size = seg.size as usize;
    if rel + 8 > size {
        return Probe::SegmentEnd;
    }
    let (len, magic) = record::peek_len_magic(seg.bytes(rel, 8));
    if len == 0 && magic == 0 {
        return Probe::End;
    }
    if magic == BLANK_MAGIC {
        return if len as usize == size - rel {
            Probe::SegmentEnd
        } else {
            Probe::Bad(format!(
                "BLANK filler of {len} bytes does not reach the segment end"
            ))
        };
    }
    if magic != RECORD_MAGIC {
        return Probe::Bad(format!("bad magic {magic:#010x}"));
    }
    let len = len as usize;
    if len < RECORD_HEADER_LEN || rel + len > size {
        return Probe::Bad(format!("record length {len} out of bounds"));
    }
    let h = record::decode_header(seg.bytes(rel, RECORD_HEADER_LEN));
    if verify_crc {
        let computed = record::compute_crc(seg.bytes(rel, len));
        if computed != h.crc {
            return Probe::Bad(format!(
                "CRC mismatch (stored {:#010x}, computed {computed:#010x}) for index {}",
                h.crc, h.meta.index
            ));
        }
    }
    Probe::Record(h)
}

fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| StoreError::io("list commit log dir", dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| StoreError::io("list commit log dir", dir, e))?;
        let name = entry.file_name();
        match name.to_str().and_then(parse_segment_name) {
            Some(start) => found.push((start, entry.path())),
            None => tracing::debug!(file = ?name, "ignoring non-segment file in commit log dir"),
        }
    }
    found.sort();
    Ok(found)
}

/// Scans the segments, rebuilding the index → offset table.
pub(super) fn recover(cfg: &CommitLogConfig, cp: &Checkpoint) -> Result<Inner> {
    let seg_size = cfg.segment_size;
    let mut segments = VecDeque::new();
    for (start, path) in list_segments(&cfg.dir)? {
        if start % seg_size != 0 {
            return Err(StoreError::Corrupt {
                offset: start,
                reason: format!(
                    "segment {} does not start on a multiple of the segment size {seg_size}",
                    path.display()
                ),
            });
        }
        if let Some(prev) = segments.back() {
            let prev: &Segment = prev;
            if prev.end() != start {
                return Err(StoreError::Corrupt {
                    offset: prev.end(),
                    reason: format!("segment missing between {} and {start}", prev.end()),
                });
            }
        }
        segments.push_back(Segment::open(path, start, seg_size)?);
    }
    let mut inner = Inner {
        segments,
        positions: VecDeque::new(),
        first_index: 0,
        next_index: cp.first_index,
        last: None,
        write_pos: 0,
        append_seq: 0,
    };
    let Some(first_start) = inner.segments.front().map(|s| s.start) else {
        return Ok(inner);
    };
    // After a purge or a snapshot reset the first record may sit inside the first segment.
    let mut pos = first_start.max(cp.start_offset);
    if inner.segment_idx(pos, seg_size).is_none() {
        pos = first_start;
    }
    let mut last: Option<RecordMeta> = None;
    let mut cut: Option<(u64, String)> = None;
    'scan: while let Some(si) = inner.segment_idx(pos, seg_size) {
        let seg = &inner.segments[si];
        let rel = (pos - seg.start) as usize;
        let verdict = match probe(seg, rel, false) {
            Probe::SegmentEnd => {
                pos = seg.end();
                continue 'scan;
            }
            Probe::End => break 'scan,
            Probe::Bad(reason) => Err(reason),
            Probe::Record(h) => {
                let verify = pos + h.len as u64 > cp.flushed_offset;
                let crc_ok =
                    !verify || record::compute_crc(seg.bytes(rel, h.len as usize)) == h.crc;
                if !crc_ok {
                    Err(format!("CRC mismatch for index {}", h.meta.index))
                } else if let Some(prev) = last {
                    if h.meta.index != prev.index + 1 {
                        Err(format!(
                            "index {} does not follow {}",
                            h.meta.index, prev.index
                        ))
                    } else if h.meta.term < prev.term {
                        Err(format!(
                            "term {} of index {} is below term {} of the record before",
                            h.meta.term, h.meta.index, prev.term
                        ))
                    } else {
                        Ok(h)
                    }
                } else {
                    Ok(h)
                }
            }
        };
        match verdict {
            Ok(h) => {
                if inner.positions.is_empty() {
                    inner.first_index = h.meta.index;
                }
                inner.positions.push_back(pos);
                last = Some(h.meta);
                pos += h.len as u64;
            }
            Err(reason) => {
                if pos < cp.flushed_offset {
                    return Err(StoreError::Corrupt {
                        offset: pos,
                        reason: format!(
                            "{reason}, below the checkpoint's flushed offset {}",
                            cp.flushed_offset
                        ),
                    });
                }
                if valid_record_follows(&inner, pos, seg_size, last) {
                    return Err(StoreError::Corrupt {
                        offset: pos,
                        reason: format!("{reason}, and a valid record follows it"),
                    });
                }
                cut = Some((pos, reason));
                break 'scan;
            }
        }
    }
    inner.write_pos = pos;
    if let Some((at, reason)) = cut {
        let si = inner.segment_idx(at, seg_size);
        if let Some(si) = si {
            let seg = &inner.segments[si];
            seg.zero_tail((at - seg.start) as usize)?;
        }
        // Later segments can only hold bytes written after the cut point: drop them.
        while inner.segments.back().is_some_and(|s| s.start > at) {
            if let Some(seg) = inner.segments.pop_back() {
                let path = seg.path.clone();
                drop(seg);
                std::fs::remove_file(&path)
                    .map_err(|e| StoreError::io("remove segment after torn tail", &path, e))?;
            }
        }
        tracing::warn!(offset = at, reason = %reason, "cut torn tail of the commit log");
    }
    // Hide what retention already purged.
    if let Some(first) = cp.first_index {
        if !inner.positions.is_empty() && first > inner.first_index {
            let drop_n = ((first - inner.first_index) as usize).min(inner.positions.len());
            inner.positions.drain(..drop_n);
            inner.first_index = first;
        }
        if inner.positions.is_empty() {
            inner.first_index = first.max(last.map(|m| m.index + 1).unwrap_or(0));
            last = None;
        }
    }
    inner.last = if inner.positions.is_empty() {
        None
    } else {
        last
    };
    inner.next_index = match inner.last {
        Some(m) => Some(m.index + 1),
        None => cp.first_index.map(|f| f.max(inner.first_index)),
    };
    tracing::info!(
        segments = inner.segments.len(),
        first_index = ?(!inner.positions.is_empty()).then_some(inner.first_index),
        last_index = ?inner.last_index(),
        write_pos = inner.write_pos,
        "commit log recovered"
    );
    Ok(inner)
}

/// True if a header-sane record at `pos` is followed by a valid next record (in the same
/// segment or at the start of the next), which makes a bad record there corruption in the
/// middle rather than a torn tail.
fn valid_record_follows(inner: &Inner, pos: u64, seg_size: u64, prev: Option<RecordMeta>) -> bool {
    let Some(si) = inner.segment_idx(pos, seg_size) else {
        return false;
    };
    let seg = &inner.segments[si];
    let rel = (pos - seg.start) as usize;
    let size = seg.size as usize;
    if rel + RECORD_HEADER_LEN > size {
        return false;
    }
    let h = record::decode_header(seg.bytes(rel, RECORD_HEADER_LEN));
    let len = h.len as usize;
    if h.magic != RECORD_MAGIC || len < RECORD_HEADER_LEN || rel + len > size {
        return false;
    }
    let follows = |next: record::RecordHeader| prev.is_none_or(|p| next.meta.index == p.index + 2);
    match probe(seg, rel + len, true) {
        Probe::Record(next) => follows(next),
        Probe::SegmentEnd => match inner.segments.get(si + 1) {
            Some(next_seg) => matches!(probe(next_seg, 0, true), Probe::Record(n) if follows(n)),
            None => false,
        },
        _ => false,
    }
}
