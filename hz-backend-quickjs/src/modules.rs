//! ES module files: resolution relative to the importing file, and loading.

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Exception, Module};

/// The module path `hz.spawn({ module })` names, resolved against the
/// calling script's file (or the working directory), and checked to exist.
///
/// The caller is the innermost frame of code that is not hz's own: the
/// natives' frames have no name, and the prelude and its units (which call
/// `ops.spawn` for `hz.spawn` and `new Worker`) run as scripts named
/// `hz:NAME`.
pub(crate) fn resolve_from_agent(ctx: &Ctx<'_>, specifier: &str) -> Result<String, String> {
    let caller = (0..CALLER_DEPTH)
        .filter_map(|level| ctx.script_or_module_name(level))
        .filter_map(|name| name.to_string().ok())
        .find(|name| !hz_core::is_own_script(name));
    hz_core::modules::resolve_spawn(caller.as_deref(), specifier)
}

/// How many frames [`resolve_from_agent`] looks through for its caller
/// (hz's own frames between a user's call and the native are a few).
const CALLER_DEPTH: isize = 16;

/// Resolves relative and absolute specifiers against the importing module.
pub(crate) struct FileResolver;

impl Resolver for FileResolver {
    fn resolve<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        // A TypeError, as HTML's "resolve a module specifier" and the V8
        // backend throw (rquickjs would make it a ReferenceError).
        hz_core::modules::resolve_import(base, name)
            .map(|p| p.to_string_lossy().into_owned())
            .map_err(|m| Exception::throw_type(ctx, &m))
    }
}

/// Loads a module file through the runtime's shared cache.
pub(crate) struct FileLoader(pub(crate) std::sync::Arc<hz_core::modules::ModuleCache>);

impl Loader for FileLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        let module = self.0.get(name).map_err(|m| Exception::throw_type(ctx, &m))?;
        Module::declare(ctx.clone(), name, module.source())
    }
}
