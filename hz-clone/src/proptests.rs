//! Property tests: random `Value` trees survive the wire format, and no
//! input makes the decoder panic.

use proptest::prelude::*;

use crate::{BigInt, ErrorValue, Payload, Value, ViewKind};

const KINDS: [ViewKind; 13] = ViewKind::ALL;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Undefined),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(Value::Number),
        any::<i32>().prop_map(|i| Value::Number(f64::from(i))),
        any::<i128>().prop_map(|i| Value::BigInt(BigInt::from(i))),
        ".{0,40}".prop_map(Value::String),
        any::<f64>().prop_map(Value::Date),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Value::ArrayBuffer),
        ("[a-z()+*?.]{0,12}", "[dgimsuy]{0,3}").prop_map(|(source, flags)| Value::RegExp { source, flags }),
        any::<bool>().prop_map(|b| Value::PrimitiveObject(Box::new(Value::Bool(b)))),
        ".{0,8}".prop_map(|s| Value::PrimitiveObject(Box::new(Value::String(s)))),
        view(),
    ]
}

/// A view with a valid, aligned window over its own buffer.
fn view() -> impl Strategy<Value = Value> {
    (0..KINDS.len(), 0usize..8, 0usize..8, 0usize..8, any::<bool>(), any::<bool>()).prop_map(
        |(k, offset_elems, len_elems, extra, resizable, tracking)| {
            let kind = KINDS[k];
            let size = kind.element_size();
            let bytes = vec![7u8; (offset_elems + len_elems) * size + extra];
            let byte_offset = offset_elems * size;
            let buffer = if resizable {
                Value::ResizableArrayBuffer { max_byte_length: bytes.len() + 16, bytes }
            } else {
                Value::ArrayBuffer(bytes)
            };
            let length = if resizable && tracking { None } else { Some(len_elems) };
            Value::View { kind, buffer: Box::new(buffer), byte_offset, length }
        },
    )
}

fn tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(prop_oneof![inner.clone(), Just(Value::Hole)], 0..8).prop_map(Value::Array),
            proptest::collection::vec(("[a-z_$]{0,6}|__proto__|[0-9]{1,3}", inner.clone()), 0..6)
                .prop_map(Value::Object),
            (any::<u32>(), proptest::collection::vec(("[0-9]{1,4}|[a-z]{1,4}", inner.clone()), 0..4))
                .prop_map(|(length, entries)| Value::SparseArray { length, entries }),
            proptest::collection::vec((inner.clone(), inner.clone()), 0..4).prop_map(Value::Map),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Set),
            ("[A-Za-z]{0,12}", proptest::option::of(".{0,12}"), proptest::option::of(inner)).prop_map(
                |(name, message, cause)| {
                    Value::Error(Box::new(ErrorValue { name, message, stack: None, cause, props: Vec::new() }))
                }
            ),
        ]
    })
}

proptest! {
    // 512 cases by default; PROPTEST_CASES=N runs more.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    /// Encoding, decoding and encoding again gives the same bytes: nothing
    /// is lost (NaN payloads and -0 included, which `==` cannot check).
    #[test]
    fn values_survive_the_wire(v in tree()) {
        let first = v.to_payload().expect("generated values encode");
        let decoded = Value::from_payload(&first).expect("what was written reads back");
        let second = decoded.to_payload().expect("decoded values encode");
        prop_assert_eq!(first.bytes, second.bytes);
    }

    /// Any bytes after a valid header decode or fail cleanly.
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut bytes = b"hz\x01".to_vec();
        bytes.extend(body);
        let _ = Value::from_payload(&Payload { bytes, hosts: vec![] });
    }

    /// Corrupting one byte of a valid payload never panics.
    #[test]
    fn mutated_payloads_never_panic(v in tree(), at in any::<usize>(), byte in any::<u8>()) {
        let mut p = v.to_payload().expect("generated values encode");
        let i = at % p.bytes.len();
        p.bytes[i] = byte;
        let _ = Value::from_payload(&p);
    }
}
