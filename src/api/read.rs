//! Reading an answer, whichever client brought it (reqwest's for the
//! look-ups, the direct one for creates, see `direct`): the body bounded at
//! [`MAX_BODY`], and the verdict on a create from its status, its headers
//! and what of its body came.

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;

use super::classify::{Answer, classify_sent, error_chain};
use super::parse::parse_retry_after;
use super::request::CallRequest;

/// Largest answer body read; the rest is dropped (an answer this big is
/// not one the API gives, and is read as unreadable).
pub const MAX_BODY: usize = 1 << 20;

/// Reads an answer's body, at most [`MAX_BODY`] bytes of it; an error is
/// given as its message (causes included, no URL query). A body that comes
/// in one chunk (the usual small answer) is kept as it came, with no copy.
pub(super) async fn read_body<B>(mut body: B) -> Result<Bytes, String>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + 'static,
{
    let Some(first) = next_data(&mut body).await? else {
        return Ok(Bytes::new());
    };
    if first.len() >= MAX_BODY {
        return Ok(first.slice(..MAX_BODY));
    }
    let Some(second) = next_data(&mut body).await? else {
        return Ok(first);
    };
    let mut all = Vec::with_capacity(first.len() + second.len());
    all.extend_from_slice(&first);
    let mut chunk = Some(second);
    while let Some(c) = chunk {
        let room = MAX_BODY - all.len();
        if c.len() >= room {
            all.extend_from_slice(&c[..room]);
            break;
        }
        all.extend_from_slice(&c);
        chunk = next_data(&mut body).await?;
    }
    Ok(all.into())
}

/// The body's next chunk of data (trailers skipped), `None` at its end.
async fn next_data<B>(body: &mut B) -> Result<Option<Bytes>, String>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + 'static,
{
    while let Some(frame) = body.frame().await {
        match frame {
            Err(e) => return Err(error_chain(&e)),
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
    Ok(None)
}

/// The verdict on a create whose status line came: `body` is what of its
/// body could be read. A 2xx whose body was lost means a call may exist;
/// any other status created nothing and is classified as it is.
pub(super) fn judge_created(
    status: u16,
    headers: &HeaderMap,
    body: Result<Bytes, String>,
    req: &CallRequest,
) -> Answer {
    let retry_after = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
    match body {
        Ok(body) => classify_sent(status, retry_after, &body, Some(&req.body)),
        Err(e) if (200..300).contains(&status) => Answer::InDoubt {
            http_status: Some(status),
            message: format!("answer body lost: {e}"),
        },
        Err(_) => classify_sent(status, retry_after, b"", Some(&req.body)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    /// A body that yields the given chunks (or an error) in turn.
    struct Chunks(VecDeque<Result<Bytes, std::io::Error>>);

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(self.0.pop_front().map(|c| c.map(http_body::Frame::data)))
        }
    }

    fn chunks(sizes: &[usize]) -> Chunks {
        Chunks(
            sizes
                .iter()
                .map(|&n| Ok(Bytes::from(vec![b'x'; n])))
                .collect(),
        )
    }

    fn read(body: Chunks) -> Result<Bytes, String> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(read_body(body))
    }

    #[test]
    fn a_body_is_read_whole_in_any_number_of_chunks() {
        for sizes in [&[][..], &[0], &[5], &[3, 4], &[1, 0, 2, 7], &[10; 30]] {
            let got = read(chunks(sizes)).unwrap();
            assert_eq!(got.len(), sizes.iter().sum::<usize>(), "{sizes:?}");
        }
    }

    #[test]
    fn a_body_is_cut_at_max_body_however_it_comes() {
        for sizes in [
            &[MAX_BODY + 1][..],
            &[MAX_BODY - 1, 2],
            &[10, MAX_BODY],
            &[MAX_BODY / 2, MAX_BODY / 2, MAX_BODY / 2, 1],
        ] {
            assert_eq!(read(chunks(sizes)).unwrap().len(), MAX_BODY, "{sizes:?}");
        }
    }

    #[test]
    fn a_body_that_breaks_is_an_error_with_its_cause() {
        let mut body = chunks(&[4, 4]);
        body.0
            .push_back(Err(std::io::Error::other("connection reset by peer")));
        let e = read(body).unwrap_err();
        assert!(e.contains("connection reset"), "{e}");
    }
}
