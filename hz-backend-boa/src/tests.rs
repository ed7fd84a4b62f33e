//! The two Boa patches, exercised through real Boa contexts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use boa_engine::object::builtins::JsSharedArrayBuffer;
use boa_engine::{Context, JsValue, Source};
use hz_atomics::SharedMemory;

use crate::memory;

fn eval(ctx: &mut Context, code: &str) -> JsValue {
    ctx.eval(Source::from_bytes(code)).unwrap_or_else(|e| panic!("{code}: {e}"))
}

#[test]
fn boa_shared_buffers_are_hz_memory_both_ways() {
    memory::install();
    let ctx = &mut Context::default();
    // Made in JS: the memory is an hz block that Rust (any engine) reads.
    let sab =
        eval(ctx, "globalThis.ia = new Int32Array(new SharedArrayBuffer(16)); Atomics.store(ia, 1, 42); ia.buffer");
    let sab = JsSharedArrayBuffer::from_object(sab.as_object().unwrap().clone()).unwrap();
    let mem = memory::memory_of(&sab.inner()).expect("hz memory");
    assert_eq!(mem.load_i32(4), Some(42));
    assert_eq!(mem.capacity(), 16);

    // Growable: JS grows it and the shared length moves; a grow by another
    // holder is seen by JS.
    let g = eval(ctx, "globalThis.g = new SharedArrayBuffer(4, { maxByteLength: 64 }); g.grow(8); g");
    let g = JsSharedArrayBuffer::from_object(g.as_object().unwrap().clone()).unwrap();
    let gm = memory::memory_of(&g.inner()).unwrap();
    assert_eq!(gm.observe_length(0), 8);
    gm.grow(32).unwrap();
    assert_eq!(eval(ctx, "g.byteLength").as_number(), Some(32.0));
    assert_eq!(eval(ctx, "new Uint8Array(g).length").as_number(), Some(32.0));

    // Received: memory from elsewhere becomes a Boa buffer over the same bytes.
    let other = SharedMemory::new(8).unwrap();
    let buffer = JsSharedArrayBuffer::from_buffer(memory::shared_array_buffer(other.clone(), false, 8), ctx);
    ctx.global_object().set(boa_engine::js_string!("theirs"), buffer, false, ctx).unwrap();
    eval(ctx, "Atomics.store(new Int32Array(theirs), 0, -7)");
    assert_eq!(other.load_i32(0), Some(-7));
    assert_eq!(eval(ctx, "theirs.byteLength").as_number(), Some(8.0));
}

#[test]
fn the_interrupt_flag_ends_running_code_uncatchably() {
    let ctx = &mut Context::default();
    let flag = Arc::new(AtomicBool::new(false));
    ctx.set_interrupt_flag(flag.clone());
    let setter = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            flag.store(true, Ordering::Relaxed);
        })
    };
    let t0 = Instant::now();
    // Neither catch nor finally may run; recursion without loops stops too.
    let r = ctx.eval(Source::from_bytes(
        "globalThis.caught = false; for (;;) { try { while (true) {} } catch (e) { caught = true; } finally { caught = true; } }",
    ));
    setter.join().unwrap();
    let err = r.expect_err("interrupted");
    assert!(err.to_string().contains("interrupted"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    let r = ctx.eval(Source::from_bytes("function f() { return f(); } f()"));
    assert!(r.expect_err("still interrupted").to_string().contains("interrupted"));
    // Cleared, the context runs code again and nothing caught the interrupt.
    flag.store(false, Ordering::Relaxed);
    assert_eq!(eval(ctx, "caught"), JsValue::from(false));
    assert_eq!(eval(ctx, "6 * 7").as_number(), Some(42.0));
}

/// A terminate may come as a module starts loading. Boa makes a `%Promise%`
/// capability there from Rust, expecting no failure: the interrupt must not
/// fail native calls (it made `Module::load` panic), only bytecode.
#[test]
fn an_interrupted_module_load_is_an_error_not_a_panic() {
    use boa_engine::Module;
    use boa_engine::builtins::promise::PromiseState;
    let ctx = &mut Context::default();
    let flag = Arc::new(AtomicBool::new(true));
    ctx.set_interrupt_flag(flag.clone());
    let module = Module::parse(Source::from_bytes("globalThis.ran = 1; for (;;) {}"), None, ctx).unwrap();
    let promise = module.load_link_evaluate(ctx);
    let _ = ctx.run_jobs();
    match promise.state() {
        PromiseState::Pending | PromiseState::Rejected(_) => {}
        PromiseState::Fulfilled(v) => panic!("an interrupted module completed: {v:?}"),
    }
    // Straight-line code before the first loop or call ran; the loop was
    // interrupted, not run forever.
    flag.store(false, Ordering::Relaxed);
    assert_eq!(eval(ctx, "globalThis.ran"), JsValue::from(1));
}
