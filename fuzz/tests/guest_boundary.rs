//! The short run of the guest-boundary target: the chaos guest driven by generated inputs, with
//! the counting allocator installed so the target can bound what the host allocates (a test
//! binary of its own, so no other test's allocations are counted); and the answers the long
//! runs found the host mishandling, each on a tape written by hand.
//!
//! A tape is read a byte per choice (`guest-drivers/chaos/src/tape.rs`): every call first reads
//! whether it logs (`00`: no) and its fate (`00`: a plain answer, `07`: a lie), then what its
//! answer needs.

use bytes::Bytes;
use wharf_fuzz::alloc::Counting;
use wharf_fuzz::guest;
use wharf_runtime::ErrorKind;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn guest_boundary() {
    bolero::check!()
        .with_iterations(3_000)
        .with_max_len(4096)
        .for_each(guest::check);
}

/// `create`: no log line, a plain answer.
const CREATE: [u8; 2] = [0x00, 0x00];

/// A writer opened with a size of `u64::MAX` that then takes a part: the size cannot grow, the
/// guest lied (it was an overflow panic, or a wrapped size in a release build).
#[test]
fn a_part_past_the_largest_size_is_a_fault() {
    let tape: Vec<u8> = [
        &CREATE[..],
        // open-writer: a lie; size: `u64::MAX` (choice 3); part size: a byte of KiB (choice
        // 0), 16 KiB; first part: 0 (choice 1).
        &[0x00, 0x07, 0x03, 0x00, 0x10, 0x01],
        // begin-part, end-part: plain answers.
        &[0x00, 0x00, 0x00, 0x00],
    ]
    .concat();
    let (opened, written) = guest::with_driver(0, &tape, async |d| {
        let mut w = d.writer("/w", false).await.expect("the writer opens");
        let opened = w.size();
        (opened, w.write(Bytes::from(vec![7; 16 << 10])).await)
    })
    .expect("the driver starts");
    assert_eq!(opened, u64::MAX);
    let e = written.expect_err("a size past u64::MAX");
    assert_eq!(e.kind(), &ErrorKind::DriverFault, "{e}");
    assert!(e.to_string().contains("a part of 16384"), "{e}");
}

/// A writer whose size is 253 after a write and 5 once closed: exact after `close`, it was
/// ahead before, which the contract forbids.
#[test]
fn a_size_that_goes_back_at_close_is_a_fault() {
    let tape: Vec<u8> = [
        &CREATE[..],
        // open-writer: a lie; size: a byte (choice 0), 250; part size: a byte, 0 (no parts);
        // first part: 0.
        &[0x00, 0x07, 0x00, 0xfa, 0x00, 0x00, 0x01],
        // write: a plain answer; size: the true one (253).
        &[0x00, 0x00, 0x00],
        // close: a plain answer; size: a lie (choice 3), a byte, 5.
        &[0x00, 0x00, 0x03, 0x00, 0x05],
    ]
    .concat();
    let (written, closed) = guest::with_driver(0, &tape, async |d| {
        let mut w = d.writer("/w", false).await.expect("the writer opens");
        w.write(Bytes::from_static(b"abc"))
            .await
            .expect("the write");
        let written = w.size();
        (written, w.close().await)
    })
    .expect("the driver starts");
    assert_eq!(written, 253);
    let e = closed.expect_err("a size that went back");
    assert_eq!(e.kind(), &ErrorKind::DriverFault, "{e}");
    assert!(e.to_string().contains("from 253 to 5"), "{e}");
}

/// A policy whose deadline lies beyond the clock's range (`timeout = "18446744073709551615"`
/// reads as `u64::MAX` seconds): calls get a deadline all the same (it was an overflow panic
/// when the instance was made).
#[test]
fn a_deadline_beyond_the_clock_works() {
    let info = guest::with_driver(0b1, &CREATE, async |d| d.stat("/a").await)
        .expect("the driver starts")
        .expect("a plain stat");
    assert_eq!(info.path, "/a");
}
