//! `wharf wit` writes the WIT this `wharf` speaks; `wharf new` starts a guest driver project in
//! Rust, JavaScript, Python or C outside this repository.
//!
//! A project is a complete in-memory driver that passes the conformance suite as generated, its
//! README, the WIT in `wit/`, and `build.sh`, which builds `NAME.wasm` with the language's own
//! bindings generator. The templates are the repository's example drivers (the JavaScript,
//! Python and C ones in `guest-drivers/`, the Rust one in `cli/templates/rust/`, which uses
//! wit-bindgen directly since the Rust SDK is not published), compiled into this binary: each is
//! written under its own name (`js-inmemory`, …), which `wharf new` replaces with the new one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use wharf::wasm::WitVersion;

/// Arguments of `wharf wit`.
#[derive(Args, Debug)]
pub struct WitArgs {
    /// The folder to write the WIT tree into (created if missing).
    #[arg(long, default_value = "wit")]
    pub out: PathBuf,
}

/// Arguments of `wharf new`.
#[derive(Args, Debug)]
pub struct NewArgs {
    /// The driver's name: lowercase letters, digits and '-', starting with a letter (the
    /// project's folder, the component `NAME.wasm`, and the name operators register).
    pub name: String,
    /// The language of the driver.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// Where to create the project (default: ./NAME); must not exist or be empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// A language `wharf new` has a template for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Rust with wit-bindgen, built for wasm32-wasip2 by cargo.
    Rust,
    /// JavaScript with componentize-js (Node.js 20+ and npm).
    Js,
    /// Python with componentize-py.
    Python,
    /// C with wit-bindgen's C generator, Debian's clang and wasi-libc.
    C,
}

/// A template file: its path in the project, its text, and whether it is a script.
struct TemplateFile {
    path: &'static str,
    text: &'static str,
    executable: bool,
}

/// `template_file!("path in the project", "path in this repository"[, executable])` — a file
/// of a template.
macro_rules! template_file {
    ($path:literal, $source:literal) => {
        TemplateFile {
            path: $path,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../", $source)),
            executable: false,
        }
    };
    ($path:literal, $source:literal, executable) => {
        TemplateFile {
            executable: true,
            ..template_file!($path, $source)
        }
    };
}

impl Lang {
    /// The name the template's files are written under.
    fn template_name(self) -> &'static str {
        match self {
            Lang::Rust => "rust-inmemory",
            Lang::Js => "js-inmemory",
            Lang::Python => "python-inmemory",
            Lang::C => "c-inmemory",
        }
    }

    fn files(self) -> &'static [TemplateFile] {
        match self {
            Lang::Rust => &RUST,
            Lang::Js => &JS,
            Lang::Python => &PYTHON,
            Lang::C => &C,
        }
    }
}

const RUST: [TemplateFile; 6] = [
    template_file!("Cargo.toml", "cli/templates/rust/Cargo.toml"),
    template_file!("Cargo.lock", "cli/templates/rust/Cargo.lock"),
    template_file!("src/lib.rs", "cli/templates/rust/src/lib.rs"),
    template_file!("build.sh", "cli/templates/rust/build.sh", executable),
    template_file!("README.md", "cli/templates/rust/README.md"),
    template_file!(".gitignore", "cli/templates/rust/gitignore"),
];

const JS: [TemplateFile; 7] = [
    template_file!("driver.js", "guest-drivers/js-inmemory/driver.js"),
    template_file!("build.mjs", "guest-drivers/js-inmemory/build.mjs"),
    template_file!("package.json", "guest-drivers/js-inmemory/package.json"),
    template_file!(
        "package-lock.json",
        "guest-drivers/js-inmemory/package-lock.json"
    ),
    template_file!("build.sh", "guest-drivers/js-inmemory/build.sh", executable),
    template_file!("README.md", "guest-drivers/js-inmemory/README.md"),
    template_file!(".gitignore", "guest-drivers/js-inmemory/.gitignore"),
];

const PYTHON: [TemplateFile; 4] = [
    template_file!("app.py", "guest-drivers/python-inmemory/app.py"),
    template_file!(
        "build.sh",
        "guest-drivers/python-inmemory/build.sh",
        executable
    ),
    template_file!("README.md", "guest-drivers/python-inmemory/README.md"),
    template_file!(".gitignore", "guest-drivers/python-inmemory/.gitignore"),
];

const C: [TemplateFile; 4] = [
    template_file!("driver.c", "guest-drivers/c-inmemory/driver.c"),
    template_file!("build.sh", "guest-drivers/c-inmemory/build.sh", executable),
    template_file!("README.md", "guest-drivers/c-inmemory/README.md"),
    template_file!(".gitignore", "guest-drivers/c-inmemory/.gitignore"),
];

/// `wharf wit`: writes every version's WIT files under `args.out`.
pub fn wit(args: &WitArgs) -> anyhow::Result<ExitCode> {
    let written = write_wit(&args.out)?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the WIT tree into `dir`, replacing the files of the same names; returns their paths.
fn write_wit(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for version in WitVersion::ALL {
        for (path, text) in version.wit_files() {
            let file = dir.join(path);
            write_file(&file, text, false)?;
            written.push(file);
        }
    }
    Ok(written)
}

/// `wharf new`: writes the project, then says how to build and check it.
pub fn new(args: &NewArgs) -> anyhow::Result<ExitCode> {
    check_name(&args.name)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if let Ok(mut entries) = std::fs::read_dir(&dir)
        && entries.next().is_some()
    {
        bail!(
            "{} already exists and is not empty: choose another --dir or name",
            dir.display()
        );
    }
    for file in args.lang.files() {
        let text = rename(file.text, args.lang.template_name(), &args.name);
        write_file(&dir.join(file.path), &text, file.executable)?;
    }
    write_wit(&dir.join("wit"))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "created {} ({:?} driver {})",
        dir.display(),
        args.lang,
        args.name
    )?;
    writeln!(out, "next:")?;
    writeln!(out, "  cd {}", dir.display())?;
    writeln!(out, "  ./build.sh")?;
    writeln!(out, "  wharf check {}.wasm", args.name)?;
    Ok(ExitCode::SUCCESS)
}

/// A driver name: lowercase ASCII letters, digits and '-', starting with a letter, not ending
/// with '-' (it names a folder, a file, a Rust crate and a registered driver).
fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        bail!(
            "invalid driver name {name:?}: use lowercase letters, digits and '-', starting with \
             a letter (at most 64 characters)"
        );
    }
    Ok(())
}

/// The template's text with its name (`js-inmemory`, and `js_inmemory` where an identifier
/// needs underscores) replaced by `name`.
fn rename(text: &str, template: &str, name: &str) -> String {
    text.replace(template, name)
        .replace(&template.replace('-', "_"), &name.replace('-', "_"))
}

fn write_file(path: &Path, text: &str, executable: bool) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["x", "my-store", "s3x2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "2x", "My", "a_b", "a-", "a/b", "../x", &"x".repeat(65)] {
            let e = check_name(bad).unwrap_err().to_string();
            assert!(e.contains("invalid driver name"), "{bad}: {e}");
        }
    }

    #[test]
    fn renaming_covers_identifiers() {
        let text = "name = \"js-inmemory\"; mod js_inmemory; js-inmemory.wasm";
        assert_eq!(
            rename(text, "js-inmemory", "my-store"),
            "name = \"my-store\"; mod my_store; my-store.wasm"
        );
    }

    #[test]
    fn every_template_carries_its_name_and_a_build_script() {
        for lang in [Lang::Rust, Lang::Js, Lang::Python, Lang::C] {
            let files = lang.files();
            let build = files.iter().find(|f| f.path == "build.sh").unwrap();
            assert!(build.executable && build.text.starts_with("#!"), "{lang:?}");
            assert!(
                files.iter().any(|f| f.text.contains(lang.template_name())),
                "{lang:?}: the driver name appears nowhere"
            );
        }
    }
}
