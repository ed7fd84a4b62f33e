//! Fuzzes the hz-clone decoder with hostile bytes: it must return a value or
//! a `DecodeError`, never panic, hang or allocate past the input. A payload
//! that decodes must encode again, and decode to the same bytes.
#![no_main]

use std::sync::Arc;

use hz_clone::{HostObject, Payload, Transferred, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A side table like a real message's: an opaque host value, a moved
    // buffer (taken once), shared memory; indices 3+ do not resolve.
    let hosts = vec![
        HostObject::new(Arc::new(1u8)),
        HostObject::new(Transferred::new(hz_atomics::OwnedBuffer::copy_of(&[1, 2, 3, 4, 5, 6, 7, 8], None).unwrap())),
        HostObject::new(Arc::new(hz_atomics::SharedMemory::new(64).unwrap())),
    ];
    // Half the inputs get a valid header, so the fuzzer spends its time past it.
    let bytes = if data.first().is_some_and(|b| b & 1 == 0) {
        let mut b = b"hz\x01".to_vec();
        b.extend_from_slice(&data[1..]);
        b
    } else {
        data.to_vec()
    };
    if let Ok(v) = Value::from_payload(&Payload { bytes, hosts }) {
        let again = v.to_payload().expect("a decoded value encodes");
        let back = Value::from_payload(&again).expect("what was written reads back");
        assert_eq!(back.to_payload().expect("encodes").bytes, again.bytes);
    }
});
