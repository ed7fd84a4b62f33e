//! ES module specifiers and files, the same for every engine: what
//! `import` and `hz.spawn({ module })` accept and how they resolve.
//!
//! Specifiers are file paths: relative ones (`./x.js`, `../x.js`) resolve
//! against the importing module's file, absolute ones stand as they are.
//! Bare names (`"lodash"`) have no package resolution and are refused with
//! a message that says so.

use std::path::{Component, Path, PathBuf};

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
}
