//! ES modules on V8: module files read once per runtime (hz-core's
//! shared cache, which also keeps a V8 code cache of each so that later
//! agents skip the parse), module records cached per agent, static
//! imports resolved against the importing file and dynamic `import()`, with
//! the engine-neutral rules of [`hz_core::modules`].

use hz_core::modules::{absolute, resolve_import};

use crate::natives::throw_error;

/// The agent's module records by absolute path, so each file is compiled
/// and evaluated once per agent (and import cycles close). An isolate slot.
#[derive(Default)]
struct Modules {
    loaded: Vec<(String, v8::Global<v8::Module>)>,
}

fn cached<'s>(scope: &mut v8::PinScope<'s, '_>, path: &str) -> Option<v8::Local<'s, v8::Module>> {
    let loaded = &scope.get_slot::<Modules>()?.loaded;
    loaded.iter().find(|(p, _)| p == path).map(|(_, m)| v8::Local::new(scope, m))
}

/// The file a module record was loaded from.
fn path_of(scope: &mut v8::PinScope<'_, '_>, module: v8::Local<'_, v8::Module>) -> Option<String> {
    scope.get_slot::<Modules>()?.loaded.iter().find(|(_, m)| *m == module).map(|(p, _)| p.clone())
}

/// Drops the agent's module records (under the isolate's lock, before it goes).
pub(crate) fn clear(isolate: &mut v8::Isolate) {
    drop(isolate.remove_slot::<Modules>());
}

/// The module record of the file at `path` (absolute), compiled on first use.
/// `None` with an exception pending if it cannot be read or compiled.
fn load<'s>(scope: &mut v8::PinScope<'s, '_>, path: &str) -> Option<v8::Local<'s, v8::Module>> {
    if let Some(m) = cached(scope, path) {
        return Some(m);
    }
    use v8::script_compiler::{self, CachedData, CompileOptions, NoCacheReason};
    let engine = <crate::V8Engine as hz_core::Engine>::NAME;
    let cached = match crate::natives::host(scope).modules().get(path) {
        Ok(m) => m,
        Err(m) => {
            throw_error(scope, "TypeError", &m);
            return None;
        }
    };
    let code = v8::String::new(scope, cached.source())?;
    let origin = crate::origin(scope, path, true)?;
    // The code cache another agent made of this file, if any: V8 checks it
    // against the source, its version and flags, and parses if it does not fit.
    let module = match cached.compiled::<Vec<u8>>(engine) {
        Some(bytes) => {
            let mut source =
                script_compiler::Source::new_with_cached_data(code, Some(&origin), CachedData::new(&bytes));
            script_compiler::compile_module2(
                scope,
                &mut source,
                CompileOptions::ConsumeCodeCache,
                NoCacheReason::NoReason,
            )?
        }
        None => {
            let mut source = script_compiler::Source::new(code, Some(&origin));
            let module = script_compiler::compile_module(scope, &mut source)?;
            if let Some(data) = module.get_unbound_module_script(scope).create_code_cache() {
                cached.set_compiled(engine, data.to_vec());
            }
            module
        }
    };
    let global = v8::Global::new(scope, module);
    if scope.get_slot::<Modules>().is_none() {
        scope.set_slot(Modules::default());
    }
    if let Some(m) = scope.get_slot_mut::<Modules>() {
        m.loaded.push((path.to_owned(), global));
    }
    Some(module)
}

/// V8's ResolveModuleCallback: a static `import` of `referrer`.
fn resolve<'s>(
    context: v8::Local<'s, v8::Context>,
    specifier: v8::Local<'s, v8::String>,
    _attributes: v8::Local<'s, v8::FixedArray>,
    referrer: v8::Local<'s, v8::Module>,
) -> Option<v8::Local<'s, v8::Module>> {
    // SAFETY: V8 calls this during instantiation, inside the agent's context.
    v8::callback_scope!(unsafe scope, context);
    let specifier = specifier.to_rust_string_lossy(scope);
    let base = path_of(scope, referrer).unwrap_or_default();
    match resolve_import(&base, &specifier) {
        Ok(path) => load(scope, &path.to_string_lossy()),
        Err(m) => {
            throw_error(scope, "TypeError", &m);
            None
        }
    }
}

/// Loads, links and evaluates the module file at `path` (made absolute):
/// the promise of its namespace, settled once its top-level await is done.
/// `None` with an exception pending if it could not be loaded or linked.
pub(crate) fn import<'s>(scope: &mut v8::PinScope<'s, '_>, path: &str) -> Option<v8::Local<'s, v8::Promise>> {
    let path = absolute(path).to_string_lossy().into_owned();
    let module = load(scope, &path)?;
    if module.get_status() == v8::ModuleStatus::Uninstantiated {
        module.instantiate_module(scope, resolve)?;
    }
    let evaluated = module.evaluate(scope)?;
    let evaluated = v8::Local::<v8::Promise>::try_from(evaluated).ok()?;
    let namespace = module.get_module_namespace();
    let to_namespace = v8::Function::builder(
        |_: &mut v8::PinScope<'_, '_>, args: v8::FunctionCallbackArguments<'_>, mut rv: v8::ReturnValue<'_>| {
            rv.set(args.data())
        },
    )
    .data(namespace)
    .build(scope)?;
    evaluated.then(scope, to_namespace)
}

/// V8's HostImportModuleDynamicallyCallback: `import(specifier)` in a
/// script or module named `resource`. Failures reject the promise.
pub(crate) fn dynamic_import<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    _options: v8::Local<'s, v8::Data>,
    resource: v8::Local<'s, v8::Value>,
    specifier: v8::Local<'s, v8::String>,
    _attributes: v8::Local<'s, v8::FixedArray>,
) -> Option<v8::Local<'s, v8::Promise>> {
    let resolver = v8::PromiseResolver::new(scope)?;
    let promise = resolver.get_promise(scope);
    let base = resource.to_rust_string_lossy(scope);
    let specifier = specifier.to_rust_string_lossy(scope);
    v8::tc_scope!(let tc, scope);
    let imported = match resolve_import(&base, &specifier) {
        Ok(path) => import(tc, &path.to_string_lossy()),
        Err(m) => {
            throw_error(tc, "TypeError", &m);
            None
        }
    };
    match imported {
        Some(namespace) => {
            resolver.resolve(tc, namespace.into())?;
        }
        None => {
            // A terminating agent has no exception to hand on.
            let error = tc.exception()?;
            tc.reset();
            resolver.reject(tc, error)?;
        }
    }
    Some(promise)
}

/// The file of the innermost script or module on the JS stack that is not
/// hz's prelude or one of its units (`hz:...`): the caller
/// `hz.spawn({ module })` resolves against.
pub(crate) fn calling_file(scope: &mut v8::PinScope<'_, '_>) -> Option<String> {
    let trace = v8::StackTrace::current_stack_trace(scope, 16)?;
    (0..trace.get_frame_count())
        .filter_map(|i| trace.get_frame(scope, i))
        .filter_map(|f| f.get_script_name(scope))
        .map(|n| n.to_rust_string_lossy(scope))
        .find(|n| !hz_core::is_own_script(n))
}
