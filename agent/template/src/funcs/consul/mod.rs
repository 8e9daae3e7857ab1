//! consul-template's functions (the openbao-template fork `bao agent` embeds:
//! no Consul or Nomad lookups).

use super::Def;

mod collections;
mod encoding;
mod env;
mod maps;
mod math;
pub(crate) mod plugin;
pub(crate) mod scratch;
mod sockaddr;
mod spew;
pub(crate) mod strings;
mod vault;

pub(super) const FAMILIES: &[&[Def]] = &[
    vault::FUNCS,
    env::FUNCS,
    encoding::FUNCS,
    strings::FUNCS,
    collections::FUNCS,
    math::FUNCS,
    scratch::FUNCS,
    maps::FUNCS,
    plugin::FUNCS,
    spew::FUNCS,
    sockaddr::FUNCS,
];
