//! The functions the hz patches add to the vendored quickjs.c
//! (vendor/rquickjs-sys/HZ-PATCHES.md), which rquickjs-sys's pregenerated
//! bindings do not list.

use rquickjs::qjs;

unsafe extern "C" {
    /// A fresh function for the builtin method `key` of `holder` (such as
    /// `"Map.prototype"`), or with `getter` for the getter of its accessor
    /// `key`, made from QuickJS's own tables; undefined if they have none.
    pub(crate) fn JS_HzBuiltin(
        ctx: *mut qjs::JSContext,
        holder: *const std::ffi::c_char,
        key: *const std::ffi::c_char,
        getter: bool,
    ) -> qjs::JSValue;

    /// The characters of an 8-bit string value (Latin-1) and their number,
    /// in place; null for a wide string, a rope or a non-string.
    pub(crate) fn JS_HzString8(val: qjs::JSValue, len: *mut qjs::size_t) -> *const u8;
    /// The same for a string atom; null for an integer atom, a symbol or a
    /// wide string.
    pub(crate) fn JS_HzAtom8(ctx: *mut qjs::JSContext, atom: qjs::JSAtom, len: *mut qjs::size_t) -> *const u8;
    /// A new string of `len` Latin-1 characters, copied (an exception if
    /// too long or out of memory).
    pub(crate) fn JS_HzNewString8(ctx: *mut qjs::JSContext, chars: *const u8, len: qjs::size_t) -> qjs::JSValue;
    /// CreateDataProperty, taking `val`: added at once to an ordinary
    /// extensible object that lacks the key, else JS_DefinePropertyValue;
    /// -1 on an exception.
    pub(crate) fn JS_HzDefineData(
        ctx: *mut qjs::JSContext,
        obj: qjs::JSValue,
        atom: qjs::JSAtom,
        val: qjs::JSValue,
    ) -> i32;
    /// CreateDataProperty of element `idx`, taking `val`: appended at once
    /// to a fast array whose next element it is, else
    /// JS_DefinePropertyValueUint32; -1 on an exception.
    pub(crate) fn JS_HzDefineIndex(ctx: *mut qjs::JSContext, obj: qjs::JSValue, idx: u32, val: qjs::JSValue) -> i32;
    /// An ordinary object's own property `atom`: 1 with a new reference
    /// in `val` for a plain data property, 0 if it has none, 2 to read it
    /// the generic way (another class, an accessor, a lazy property).
    pub(crate) fn JS_HzGetOwnData(
        ctx: *mut qjs::JSContext,
        obj: qjs::JSValue,
        atom: qjs::JSAtom,
        val: *mut qjs::JSValue,
    ) -> i32;
    /// An ordinary object's own enumerable string keys in order, read off
    /// its shape: up to `cap` new references written to `atoms`, and their
    /// number; -1 (none written) to use JS_GetOwnPropertyNames instead.
    pub(crate) fn JS_HzOwnKeys(ctx: *mut qjs::JSContext, obj: qjs::JSValue, atoms: *mut qjs::JSAtom, cap: i32) -> i32;

    /// The context's own constructor `name` (a new reference), of those
    /// QuickJS makes on first use (DOMException, Date and the typed arrays:
    /// patches 17, 19 and 21), made now if it has not been; undefined for
    /// any other name.
    pub(crate) fn JS_HzIntrinsic(ctx: *mut qjs::JSContext, name: *const std::ffi::c_char) -> qjs::JSValue;
}
