//! ES module files: resolution relative to the importing file, and loading.

use std::path::{Component, Path, PathBuf};

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Error, Module};

/// `path` made absolute against the working directory, `.` and `..` folded.
pub(crate) fn absolute(path: &str) -> PathBuf {
    let p = Path::new(path);
    let joined = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(p) };
    normalize(&joined)
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Resolves `specifier` as `import` would from `base` (a file path).
fn resolve(base: &str, specifier: &str) -> Result<PathBuf, String> {
    if specifier.starts_with("./") || specifier.starts_with("../") {
        let dir = Path::new(base).parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(absolute(&dir.join(specifier).to_string_lossy()))
    } else if Path::new(specifier).is_absolute() {
        Ok(normalize(Path::new(specifier)))
    } else {
        Err(format!("cannot resolve {specifier:?}: module paths start with \"./\", \"../\" or \"/\""))
    }
}

/// The module path `hz.spawn({ module })` names, resolved against the
/// calling script's file (or the working directory), and checked to exist.
pub(crate) fn resolve_from_agent(ctx: &Ctx<'_>, specifier: &str) -> Result<String, String> {
    let base = ctx
        .script_or_module_name(1)
        .and_then(|a| a.to_string().ok())
        .filter(|b| Path::new(b).is_absolute() || Path::new(b).exists())
        .map(|b| absolute(&b).to_string_lossy().into_owned())
        .unwrap_or_else(|| absolute("./-").to_string_lossy().into_owned());
    let path = if Path::new(specifier).is_absolute() || specifier.starts_with('.') {
        resolve(&base, specifier)?
    } else {
        absolute(specifier)
    };
    if !path.is_file() {
        return Err(format!("cannot find module {specifier:?} (looked for {})", path.display()));
    }
    Ok(path.to_string_lossy().into_owned())
}

/// Resolves relative and absolute specifiers against the importing module.
pub(crate) struct FileResolver;

impl Resolver for FileResolver {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        resolve(base, name)
            .map(|p| p.to_string_lossy().into_owned())
            .map_err(|m| Error::new_resolving_message(base, name, m))
    }
}

/// Reads a module file from disk.
pub(crate) struct FileLoader;

impl Loader for FileLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        let source = std::fs::read(name).map_err(|e| Error::new_loading_message(name, e.to_string()))?;
        Module::declare(ctx.clone(), name, source)
    }
}
