//! One-tap rejoin: the app remembers the meeting by the server's pairing token, never by the
//! code. The token is a long random string the server issues with every citizen ticket and
//! accepts (`POST /api/v1/rejoin`) while the meeting is open; ending or expiring the meeting
//! revokes it server-side, and the core deletes the file when the server no longer knows it.
//!
//! The token is a secret (it lets its holder into the meeting), so where it is kept is the
//! shell's choice: a [`TokenStore`]. Phones supply secure storage (Android Keystore, iOS
//! Keychain) through `samtale-ffi`'s `SecureStore`; the fallback, for desktops and tests, is
//! [`FileStore`]: one small file (mode 0600 on Unix), written atomically (temp file +
//! rename). Both platforms back up app storage by default: a shell using the file must
//! exclude it from backups (docs/bindings.md).

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the pairing token of the remembered meeting is kept. Called off the call's thread
/// (a keystore may take a while).
pub trait TokenStore: Send + Sync {
    /// The remembered token, if there is one.
    fn load(&self) -> Option<String>;
    /// Remembers `token`, replacing any other.
    fn save(&self, token: &str) -> Result<(), String>;
    /// Forgets the token (no error if there was none).
    fn forget(&self);
}

/// The token in a file: the desktop fallback.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// A store at `path` (its directory is created on the first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl TokenStore for FileStore {
    fn load(&self) -> Option<String> {
        load(&self.path)
    }
    fn save(&self, token: &str) -> Result<(), String> {
        save(&self.path, token).map_err(|e| e.to_string())
    }
    fn forget(&self) {
        forget(&self.path);
    }
}

/// Stores `token` at `path` (creating the directory).
pub fn save(path: &Path, token: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(token.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The remembered token, if there is one.
pub fn load(path: &Path) -> Option<String> {
    let token = std::fs::read_to_string(path).ok()?;
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

/// Forgets the remembered meeting (no error if there was none).
pub fn forget(path: &Path) {
    let _ = std::fs::remove_file(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_forget() {
        let dir = std::env::temp_dir().join(format!("samtale-remember-{}", rand::random::<u64>()));
        let path = dir.join("brand").join("remembered-meeting");
        assert_eq!(load(&path), None);
        save(&path, "t_secret").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(load(&path).as_deref(), Some("t_secret"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(0o600));
        }
        forget(&path);
        assert_eq!(load(&path), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
