use crate::{BigInt, DecodeError, ErrorValue, MAX_DEPTH, Payload, Value, ViewKind, Writer};

fn round_trip(v: &Value) -> Value {
    Value::from_payload(&v.to_payload().expect("encodes")).expect("decodes")
}

#[test]
fn primitives_round_trip() {
    for v in [
        Value::Undefined,
        Value::Null,
        Value::Bool(true),
        Value::Bool(false),
        Value::Number(0.0),
        Value::Number(-1.0),
        Value::Number(i32::MAX as f64),
        Value::Number(i32::MIN as f64),
        Value::Number(1.5),
        Value::Number(f64::INFINITY),
        Value::Number(1e300),
        Value::String(String::new()),
        Value::String("héllo ✓ 🎉".into()),
        Value::BigInt(BigInt::from(-(1i128 << 100))),
        Value::BigInt(BigInt::from(0)),
    ] {
        assert_eq!(round_trip(&v), v);
    }
}

#[test]
fn negative_zero_and_nan_are_exact() {
    let Value::Number(z) = round_trip(&Value::Number(-0.0)) else { panic!() };
    assert!(z == 0.0 && z.is_sign_negative());
    let Value::Number(n) = round_trip(&Value::Number(f64::NAN)) else { panic!() };
    assert!(n.is_nan());
}

#[test]
fn bigint_i128_conversion() {
    for v in [0i128, 1, -1, i64::MAX as i128 + 7, i128::MIN + 1, i128::MAX] {
        assert_eq!(BigInt::from(v).to_i128(), Some(v));
    }
}

#[test]
fn containers_round_trip() {
    let v = Value::Object(vec![
        ("a".into(), Value::Array(vec![Value::Number(1.0), Value::Hole, Value::String("x".into())])),
        ("m".into(), Value::Map(vec![(Value::Number(1.0), Value::Set(vec![Value::Null]))])),
        ("d".into(), Value::Date(1_700_000_000_000.0)),
        ("s".into(), Value::SparseArray { length: u32::MAX, entries: vec![("7".into(), Value::Bool(true))] }),
        (
            "e".into(),
            Value::Error(Box::new(ErrorValue {
                name: "TypeError".into(),
                message: Some("bad".into()),
                stack: Some("at x".into()),
                cause: Some(Value::Number(3.0)),
                props: vec![("code".into(), Value::Number(7.0))],
            })),
        ),
        (
            "t".into(),
            Value::View {
                kind: ViewKind::Int32,
                buffer: Box::new(Value::ArrayBuffer(vec![0; 16])),
                byte_offset: 4,
                length: Some(3),
            },
        ),
    ]);
    assert_eq!(round_trip(&v), v);
}

#[test]
fn wrappers_regexps_and_resizable_buffers_round_trip() {
    let v = Value::Array(vec![
        Value::PrimitiveObject(Box::new(Value::Bool(false))),
        Value::PrimitiveObject(Box::new(Value::Number(-0.5))),
        Value::PrimitiveObject(Box::new(Value::String("s".into()))),
        Value::PrimitiveObject(Box::new(Value::BigInt(BigInt::from(-7)))),
        Value::RegExp { source: "a+(b)?".into(), flags: "gimsuy".into() },
        Value::ResizableArrayBuffer { bytes: vec![1, 2, 3, 4], max_byte_length: 64 },
        // A length-tracking view over the resizable buffer above (object 6).
        Value::View { kind: ViewKind::Uint16, buffer: Box::new(Value::Ref(6)), byte_offset: 2, length: None },
        Value::View { kind: ViewKind::Float16, buffer: Box::new(Value::Ref(6)), byte_offset: 0, length: Some(1) },
    ]);
    assert_eq!(round_trip(&v), v);
    // A wrapper may only hold a primitive.
    let bad = Value::PrimitiveObject(Box::new(Value::Object(vec![])));
    assert!(bad.to_payload().is_err());
}

#[test]
fn hostile_new_types_are_rejected() {
    // A length-tracking view over a fixed-length buffer.
    assert_eq!(
        decode_bytes(b"hz\x01\x1e\x01\x00\x16\x02\x00\x00".to_vec()),
        Err(DecodeError::BadView("a length-tracking view needs a resizable buffer"))
    );
    // maxByteLength below the length, or absurdly large.
    assert!(decode_bytes(b"hz\x01\x1d\x02\x01\x00\x00".to_vec()).is_err());
    assert!(decode_bytes(b"hz\x01\x1d\x00\xff\xff\xff\xff\xff\x01".to_vec()).is_err());
    // A wrapper around an object, a RegExp with an unknown flag.
    assert!(decode_bytes(b"hz\x01\x1b\x10\x1f".to_vec()).is_err());
    assert!(decode_bytes(b"hz\x01\x1c\x07\x01a\x07\x01z".to_vec()).is_err());
    assert!(decode_bytes(b"hz\x01\x1c\x07\x01a\x07\x01g".to_vec()).is_ok());
}

#[test]
fn shared_and_cyclic_references_keep_their_numbers() {
    // obj#0 = { self: obj#0, buf: ab#1, view: view#2 over ab#1, again: ab#1 }
    let v = Value::Object(vec![
        ("self".into(), Value::Ref(0)),
        ("buf".into(), Value::ArrayBuffer(vec![1, 2, 3, 4])),
        (
            "view".into(),
            Value::View { kind: ViewKind::Uint8, buffer: Box::new(Value::Ref(1)), byte_offset: 1, length: Some(2) },
        ),
        ("again".into(), Value::Ref(1)),
    ]);
    assert_eq!(round_trip(&v), v);
    // A view written before its buffer numbers the view first.
    let w = Value::Array(vec![
        Value::View {
            kind: ViewKind::Uint8,
            buffer: Box::new(Value::ArrayBuffer(vec![9; 4])),
            byte_offset: 0,
            length: Some(4),
        },
        Value::Ref(2),
        Value::Ref(1),
    ]);
    assert_eq!(round_trip(&w), w);
}

#[test]
fn serde_round_trip() {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Job {
        id: u32,
        tags: Vec<String>,
        weight: f64,
    }
    let job = Job { id: 7, tags: vec!["a".into()], weight: 0.5 };
    let v = crate::to_value(&job).unwrap();
    let back: Job = crate::from_value(&round_trip(&v)).unwrap();
    assert_eq!(back, job);
    assert!(crate::from_value::<Job>(&Value::Map(vec![])).is_err());
}

fn decode_bytes(bytes: Vec<u8>) -> Result<Value, DecodeError> {
    Value::from_payload(&Payload { bytes, hosts: vec![] })
}

#[test]
fn hostile_bytes_are_clean_errors() {
    assert_eq!(decode_bytes(vec![]), Err(DecodeError::BadHeader));
    assert_eq!(decode_bytes(b"hz\x09\x00".to_vec()), Err(DecodeError::UnsupportedVersion(9)));
    assert_eq!(decode_bytes(b"hz\x01".to_vec()), Err(DecodeError::Truncated));
    // A string declaring 2^40 bytes with 1 byte left: rejected before allocating.
    let mut b = b"hz\x01\x07".to_vec();
    b.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x20, b'x']);
    assert!(matches!(decode_bytes(b), Err(DecodeError::LengthTooLarge(..))));
    // A dense array of 4 billion elements in 3 bytes.
    let mut b = b"hz\x01\x11".to_vec();
    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(matches!(decode_bytes(b), Err(DecodeError::LengthTooLarge(..))));
    // An overlong varint.
    let mut b = b"hz\x01\x04".to_vec();
    b.extend_from_slice(&[0xff; 11]);
    assert!(matches!(decode_bytes(b), Err(DecodeError::BadVarint(_))));
    // Unknown tag, unknown back reference, unknown host object, trailing bytes.
    assert!(matches!(decode_bytes(b"hz\x01\x7f".to_vec()), Err(DecodeError::BadTag(0x7f, 3))));
    assert_eq!(decode_bytes(b"hz\x01\x19\x05".to_vec()), Err(DecodeError::BadReference(5)));
    assert_eq!(decode_bytes(b"hz\x01\x1a\x00".to_vec()), Err(DecodeError::BadHostObject(0)));
    assert_eq!(decode_bytes(b"hz\x01\x00\x00".to_vec()), Err(DecodeError::TrailingBytes(1)));
    // Invalid UTF-8.
    assert_eq!(decode_bytes(b"hz\x01\x07\x01\xff".to_vec()), Err(DecodeError::BadString));
    // A back reference to an object still under construction is fine (a cycle)...
    assert!(decode_bytes(b"hz\x01\x10\x07\x01a\x19\x00\x1f".to_vec()).is_ok());
}

#[test]
fn hostile_views_are_rejected() {
    let view = |kind: u8, off: u8, len: u8, buf: u8| {
        let mut b = b"hz\x01\x17".to_vec();
        b.extend_from_slice(&[kind, off, len, 0x16, buf]);
        b.extend(std::iter::repeat_n(0u8, buf as usize));
        decode_bytes(b)
    };
    assert!(view(5, 4, 2, 12).is_ok());
    assert_eq!(view(5, 2, 1, 12), Err(DecodeError::BadView("misaligned offset")));
    assert_eq!(view(5, 4, 3, 12), Err(DecodeError::BadView("view exceeds its buffer")));
    assert_eq!(view(99, 0, 0, 0), Err(DecodeError::BadView("unknown view kind")));
    // A view over a back reference to a non-buffer.
    assert_eq!(
        decode_bytes(b"hz\x01\x11\x01\x17\x01\x00\x00\x19\x00\x1f".to_vec()),
        Err(DecodeError::BadView("view over a non-buffer"))
    );
}

/// Runs `f` on a thread with a main thread's stack (8 MiB): the depth limit
/// is chosen so encoding and decoding fit there even in debug builds.
fn on_main_sized_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(8 << 20).spawn(f).unwrap().join().unwrap();
}

#[test]
fn nesting_is_bounded_both_ways() {
    on_main_sized_stack(nesting_is_bounded_both_ways_inner);
}

fn nesting_is_bounded_both_ways_inner() {
    let mut v = Value::Null;
    for _ in 0..MAX_DEPTH + 10 {
        v = Value::Array(vec![v]);
    }
    assert!(v.to_payload().is_err());
    // Hand-written deep bytes: 100k nested arrays.
    let mut b = b"hz\x01".to_vec();
    for _ in 0..100_000 {
        b.extend_from_slice(&[0x11, 0x01]);
    }
    assert_eq!(decode_bytes(b), Err(DecodeError::TooDeep(MAX_DEPTH)));
    // Drop iteratively-built deep values without overflowing the test stack.
    std::mem::forget(v);
}

#[test]
fn writer_numbers_small_ints_compactly() {
    let mut w = Writer::new();
    w.number(-3.0);
    assert_eq!(w.finish().bytes, b"hz\x01\x04\x05");
}

/// Replays the fuzz corpus (fuzz/corpus/decode, minimised with
/// `cargo fuzz cmin`): each input decodes or fails cleanly, and what decodes
/// re-encodes stably. The fuzz target itself runs with cargo-fuzz.
#[test]
fn fuzz_corpus_replays_cleanly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/decode");
    // The same side table as the fuzz target.
    let hosts = || {
        vec![
            crate::HostObject::new(std::sync::Arc::new(1u8)),
            crate::HostObject::new(crate::Transferred::new(
                hz_atomics::OwnedBuffer::copy_of(&[1, 2, 3, 4, 5, 6, 7, 8], None).unwrap(),
            )),
            crate::HostObject::new(std::sync::Arc::new(hz_atomics::SharedMemory::new(64).unwrap())),
        ]
    };
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus is checked in") {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        // The same framing as the fuzz target.
        let bytes = if data.first().is_some_and(|b| b & 1 == 0) {
            let mut b = b"hz\x01".to_vec();
            b.extend_from_slice(&data[1..]);
            b
        } else {
            data.clone()
        };
        let payload = Payload { bytes, hosts: hosts() };
        let decoded = on_main_sized_stack_with(move || Value::from_payload(&payload));
        if let Ok(v) = decoded {
            let again = v.to_payload().expect("a decoded value encodes");
            let back = Value::from_payload(&again).expect("what was written reads back");
            assert_eq!(back.to_payload().unwrap().bytes, again.bytes);
        }
        count += 1;
    }
    assert!(count >= 10, "corpus has only {count} inputs");
}

fn on_main_sized_stack_with<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(8 << 20).spawn(f).unwrap().join().unwrap()
}

#[test]
fn shared_array_buffers_carry_their_memory() {
    let memory = std::sync::Arc::new(hz_atomics::SharedMemory::new(32).unwrap());
    let v = Value::Array(vec![
        Value::SharedArrayBuffer {
            memory: crate::HostObject::new(memory.clone()),
            byte_length: 8,
            max_byte_length: Some(32),
        },
        Value::View { kind: ViewKind::Int32, buffer: Box::new(Value::Ref(1)), byte_offset: 4, length: Some(1) },
        // A view written before its shared buffer (inline after it).
        Value::View {
            kind: ViewKind::Uint8,
            buffer: Box::new(Value::SharedArrayBuffer {
                memory: crate::HostObject::new(memory.clone()),
                byte_length: 4,
                max_byte_length: None,
            }),
            byte_offset: 0,
            length: Some(4),
        },
    ]);
    let back = round_trip(&v);
    assert_eq!(back, v);
    // Lengths beyond the memory's capacity are refused.
    let mut w = crate::Writer::new();
    w.shared_array_buffer(memory, 64, None);
    assert!(matches!(Value::from_payload(&w.finish()), Err(DecodeError::Malformed(_))));
}

/// A Latin-1 string (an engine's one-byte string) decodes to the same text
/// as a value, a key and a wrapped primitive, above U+007F too; its length
/// is checked against the bytes left like any other.
#[test]
fn latin1_strings_decode_to_their_code_points() {
    let mut w = Writer::new();
    w.begin_object();
    w.string_latin1(b"caf\xe9");
    w.string_latin1(b"\xff\x00x");
    w.string_latin1(b"key");
    w.string_latin1(b"");
    w.end();
    let v = Value::from_payload(&w.finish()).unwrap();
    let want = Value::Object(vec![
        ("café".into(), Value::String("\u{ff}\u{0}x".into())),
        ("key".into(), Value::String(String::new())),
    ]);
    assert_eq!(v, want);
    assert_eq!(
        decode_bytes(b"hz\x01\x1b\x0a\x01\xe9".to_vec()),
        Ok(Value::PrimitiveObject(Box::new(Value::String("é".into()))))
    );
    let mut b = b"hz\x01\x0a".to_vec();
    b.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x20, b'x']);
    assert!(matches!(decode_bytes(b), Err(DecodeError::LengthTooLarge(..))));
}
