//! ES modules on Boa: module files parsed and cached per agent, static and
//! dynamic imports resolved against the importing file, with the
//! engine-neutral rules of [`hz_core::modules`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use boa_engine::module::{ModuleLoader, Referrer};
use boa_engine::{Context, JsNativeError, JsObject, JsResult, Module, NativeFunction};
use hz_core::modules::{absolute, resolve_import};

use crate::natives;

/// The agent's module records by absolute path, so each file is parsed
/// and evaluated once per agent (and import cycles close).
#[derive(Default)]
pub(crate) struct Loader {
    loaded: RefCell<HashMap<PathBuf, Module>>,
}

impl Loader {
    /// The module record of the file at `path` (absolute), parsed on first use.
    fn load(&self, path: &Path, ctx: &mut Context) -> JsResult<Module> {
        if let Some(m) = self.loaded.borrow().get(path) {
            return Ok(m.clone());
        }
        let cached = natives::host(ctx)
            .modules()
            .get(&path.to_string_lossy())
            .map_err(|m| JsNativeError::typ().with_message(m))?;
        let source = boa_engine::Source::from_bytes(cached.source()).with_path(path);
        let module = Module::parse(source, None, ctx).map_err(|e| natives::locate(ctx, e, &path.to_string_lossy()))?;
        self.loaded.borrow_mut().insert(path.to_path_buf(), module.clone());
        Ok(module)
    }
}

impl ModuleLoader for Loader {
    fn load_imported_module(
        self: Rc<Self>,
        referrer: Referrer,
        request: boa_engine::module::ModuleRequest,
        context: &RefCell<&mut Context>,
    ) -> impl Future<Output = JsResult<Module>> {
        let specifier = request.specifier().to_std_string_escaped();
        let ctx = &mut context.borrow_mut();
        // A script or module with a file resolves against it; code without
        // one (the prelude, a spawned function) against the working directory.
        let base = referrer
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| absolute("./-").to_string_lossy().into_owned());
        let result = resolve_import(&base, &specifier)
            .map_err(|m| JsNativeError::typ().with_message(m).into())
            .and_then(|path| self.load(&path, ctx));
        std::future::ready(result)
    }
}

/// Loads, links and evaluates the module file at `path`: the promise of
/// its namespace.
pub(crate) fn import(ctx: &mut Context, path: &str) -> JsResult<JsObject> {
    let path = absolute(path);
    let loader = ctx
        .downcast_module_loader::<Loader>()
        .ok_or_else(|| JsNativeError::error().with_message("the hz module loader is not installed"))?;
    let module = loader.load(&path, ctx)?;
    let evaluated = module.load_link_evaluate(ctx);
    let namespace =
        NativeFunction::from_copy_closure_with_captures(|_, _, m: &Module, ctx| Ok(m.namespace(ctx).into()), module);
    let namespace = namespace.to_js_function(ctx.realm());
    Ok(evaluated.then(Some(namespace), None, ctx)?.into())
}
