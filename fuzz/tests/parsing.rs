//! Short runs of the parsing targets: each on a fixed number of generated inputs (plus any crash
//! inputs found by long runs, under `tests/__fuzz__/<target>/`). `cargo bolero test <target>`
//! runs the same declarations under libfuzzer (see `fuzz/README.md`).

use wharf_fuzz::{config_yaml, params, paths, wharf_toml};

#[test]
fn paths() {
    bolero::check!()
        .with_type::<paths::Input>()
        .with_iterations(200_000)
        .for_each(paths::check);
}

#[test]
fn params() {
    bolero::check!()
        .with_type::<params::Input>()
        .with_iterations(100_000)
        .for_each(params::check);
}

#[test]
fn config_yaml() {
    bolero::check!()
        .with_type::<config_yaml::Input>()
        .with_iterations(50_000)
        .for_each(config_yaml::check);
}

#[test]
fn wharf_toml() {
    bolero::check!()
        .with_type::<wharf_toml::Input>()
        .with_iterations(100_000)
        .for_each(wharf_toml::check);
}
