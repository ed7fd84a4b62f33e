//! ES module specifiers and files, the same for every engine: what
//! `import` and `hz.spawn({ module })` accept and how they resolve.
//!
//! Specifiers are file paths: relative ones (`./x.js`, `../x.js`) resolve
//! against the importing module's file, absolute ones stand as they are.
//! Bare names (`"lodash"`) have no package resolution and are refused with
//! a message that says so.

use std::any::Any;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The module files of one runtime, read once and shared by every agent of
/// every engine, with what each engine made of them to compile faster next
/// time (V8: a code cache). As in Node and Deno, a file is read when first
/// imported and the runtime keeps that text for its life: a file edited
/// while the runtime runs is not read again. One that cannot be read is
/// not remembered (each import tries again and throws).
#[derive(Default)]
pub struct ModuleCache {
    files: Mutex<HashMap<String, Arc<CachedModule>>>,
}

impl std::fmt::Debug for ModuleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.files.lock().map_or(0, |m| m.len());
        f.debug_struct("ModuleCache").field("files", &n).finish()
    }
}

impl ModuleCache {
    /// The module at `path` (absolute, as the resolvers here make it): its
    /// text is read on the first call for that path.
    pub fn get(&self, path: &str) -> Result<Arc<CachedModule>, String> {
        if let Some(m) = self.files.lock().unwrap_or_else(|p| p.into_inner()).get(path) {
            return Ok(m.clone());
        }
        // Read outside the lock; two agents racing read twice, one wins.
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot load module {path}: {e}"))?;
        let module = CachedModule::new(text);
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        Ok(files.entry(path.to_owned()).or_insert(module).clone())
    }

    /// Holds `source` as the text of the module file `path` (made absolute
    /// as [`absolute`] does) unless that path is held already.
    pub fn preload(&self, path: &str, source: String) {
        let key = absolute(path).to_string_lossy().into_owned();
        let module = CachedModule::new(source);
        self.files.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_insert(module);
    }

    /// How many files it holds.
    pub fn len(&self) -> usize {
        self.files.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One module file of a [`ModuleCache`].
pub struct CachedModule {
    source: Arc<str>,
    compiled: Mutex<HashMap<&'static str, Arc<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for CachedModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedModule").field("bytes", &self.source.len()).finish_non_exhaustive()
    }
}

impl CachedModule {
    /// A file of text `source`, compiled by no engine yet.
    fn new(source: String) -> Arc<Self> {
        Arc::new(CachedModule { source: source.into(), compiled: Mutex::new(HashMap::new()) })
    }

    /// The file's text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// What engine `engine` stored for this file, if it is a `T`.
    pub fn compiled<T: Any + Send + Sync>(&self, engine: &'static str) -> Option<Arc<T>> {
        let map = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        map.get(engine).cloned()?.downcast::<T>().ok()
    }

    /// Stores `value` for engine `engine` (the first store wins).
    pub fn set_compiled<T: Any + Send + Sync>(&self, engine: &'static str, value: T) {
        let mut map = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(engine).or_insert_with(|| Arc::new(value));
    }
}

/// `path` made absolute against the working directory, `.` and `..` folded.
pub fn absolute(path: &str) -> PathBuf {
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

/// Resolves `specifier` as `import` does from the module file `base`.
pub fn resolve_import(base: &str, specifier: &str) -> Result<PathBuf, String> {
    if specifier.starts_with("./") || specifier.starts_with("../") {
        let dir = Path::new(base).parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(absolute(&dir.join(specifier).to_string_lossy()))
    } else if Path::new(specifier).is_absolute() {
        Ok(normalize(Path::new(specifier)))
    } else {
        Err(format!("cannot resolve {specifier:?}: module paths start with \"./\", \"../\" or \"/\""))
    }
}

/// The module file `hz.spawn({ module })` names, resolved against `caller`
/// (the calling script's or module's file name; ignored unless it names a
/// file, e.g. `<spawn>`: then the working directory), checked to exist.
pub fn resolve_spawn(caller: Option<&str>, specifier: &str) -> Result<String, String> {
    let base = caller
        .filter(|b| Path::new(b).is_absolute() || Path::new(b).exists())
        .map(|b| absolute(b).to_string_lossy().into_owned())
        .unwrap_or_else(|| absolute("./-").to_string_lossy().into_owned());
    let path = if Path::new(specifier).is_absolute() || specifier.starts_with('.') {
        resolve_import(&base, specifier)?
    } else {
        absolute(specifier)
    };
    if !path.is_file() {
        return Err(format!("cannot find module {specifier:?} (looked for {})", path.display()));
    }
    Ok(path.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_specifiers_resolve_against_the_importer() {
        assert_eq!(resolve_import("/a/b/main.js", "./lib/x.js").unwrap(), PathBuf::from("/a/b/lib/x.js"));
        assert_eq!(resolve_import("/a/b/main.js", "../x.js").unwrap(), PathBuf::from("/a/x.js"));
        assert_eq!(resolve_import("/a/b/main.js", "/c/./d/../y.js").unwrap(), PathBuf::from("/c/y.js"));
        let bare = resolve_import("/a/main.js", "lodash").unwrap_err();
        assert!(bare.contains("\"./\""), "{bare}");
        assert!(resolve_spawn(Some("<spawn>"), "./surely-not-here.js").unwrap_err().contains("cannot find module"));
    }

    #[test]
    fn the_cache_reads_a_file_once() {
        let dir = std::env::temp_dir().join(format!("hz-module-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("m.js");
        std::fs::write(&file, "export const a = 1;").unwrap();
        let path = file.to_string_lossy().into_owned();
        let cache = ModuleCache::default();
        let first = cache.get(&path).unwrap();
        std::fs::write(&file, "export const a = 2;").unwrap();
        let second = cache.get(&path).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(second.source(), "export const a = 1;");
        first.set_compiled("test", vec![1u8]);
        first.set_compiled("test", vec![2u8]);
        assert_eq!(*second.compiled::<Vec<u8>>("test").unwrap(), vec![1u8]);
        assert!(second.compiled::<String>("test").is_none());
        assert!(cache.get(&dir.join("missing.js").to_string_lossy()).unwrap_err().contains("cannot load module"));
        assert_eq!(cache.len(), 1);
        // A preloaded path is not read; one held already keeps its text.
        let gone = dir.join("sub/../preloaded.js");
        cache.preload(&gone.to_string_lossy(), "export const b = 3;".into());
        assert_eq!(cache.get(&dir.join("preloaded.js").to_string_lossy()).unwrap().source(), "export const b = 3;");
        cache.preload(&path, "export const a = 9;".into());
        assert_eq!(cache.get(&path).unwrap().source(), "export const a = 1;");
        std::fs::remove_dir_all(&dir).ok();
    }
}
