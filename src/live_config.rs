//! The configuration in force, shared by the daemon's components and replaced whole on reload,
//! so a component always sees one consistent configuration, never half of an old and half of a
//! new one.

use std::sync::{Arc, RwLock};

use crate::config::Config;

/// A handle to the configuration in force. Cloning shares it.
#[derive(Clone, Default)]
pub struct LiveConfig {
    current: Arc<RwLock<Arc<Config>>>,
}

impl LiveConfig {
    /// Starts with `config`.
    pub fn new(config: Config) -> Self {
        Self { current: Arc::new(RwLock::new(Arc::new(config))) }
    }

    /// The configuration in force now.
    pub fn get(&self) -> Arc<Config> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Puts `config` in force.
    pub fn replace(&self, config: Config) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
    }
}
