//! A registry tree per host: hives, keys and typed values, as `StdRegProv` exposes them
//! (hive handles and value types of the `StdRegProv` class documentation and winreg.h).
//!
//! Key and value names compare case-insensitively, as on Windows; the stored spelling is
//! what enumeration returns.

/// `HKEY_CLASSES_ROOT`.
pub const HKEY_CLASSES_ROOT: u32 = 0x8000_0000;
/// `HKEY_CURRENT_USER`.
pub const HKEY_CURRENT_USER: u32 = 0x8000_0001;
/// `HKEY_LOCAL_MACHINE`.
pub const HKEY_LOCAL_MACHINE: u32 = 0x8000_0002;
/// `HKEY_USERS`.
pub const HKEY_USERS: u32 = 0x8000_0003;
/// `HKEY_CURRENT_CONFIG`.
pub const HKEY_CURRENT_CONFIG: u32 = 0x8000_0005;

/// Every hive handle `StdRegProv` accepts.
pub const HIVES: [u32; 5] = [
    HKEY_CLASSES_ROOT,
    HKEY_CURRENT_USER,
    HKEY_LOCAL_MACHINE,
    HKEY_USERS,
    HKEY_CURRENT_CONFIG,
];

/// `REG_SZ`.
pub const REG_SZ: i32 = 1;
/// `REG_EXPAND_SZ`.
pub const REG_EXPAND_SZ: i32 = 2;
/// `REG_BINARY`.
pub const REG_BINARY: i32 = 3;
/// `REG_DWORD`.
pub const REG_DWORD: i32 = 4;
/// `REG_MULTI_SZ`.
pub const REG_MULTI_SZ: i32 = 7;
/// `REG_QWORD`.
pub const REG_QWORD: i32 = 11;

/// A typed registry value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegValue {
    Sz(String),
    ExpandSz(String),
    Binary(Vec<u8>),
    Dword(u32),
    MultiSz(Vec<String>),
    Qword(u64),
}

impl RegValue {
    /// The `REG_*` type code (what `EnumValues` returns in `Types`).
    pub fn type_code(&self) -> i32 {
        match self {
            RegValue::Sz(_) => REG_SZ,
            RegValue::ExpandSz(_) => REG_EXPAND_SZ,
            RegValue::Binary(_) => REG_BINARY,
            RegValue::Dword(_) => REG_DWORD,
            RegValue::MultiSz(_) => REG_MULTI_SZ,
            RegValue::Qword(_) => REG_QWORD,
        }
    }
}

/// A key: its name, subkeys and values, each in insertion order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Key {
    pub name: String,
    pub subkeys: Vec<Key>,
    pub values: Vec<(String, RegValue)>,
}

impl Key {
    /// A key with no subkeys and no values.
    pub fn new(name: &str) -> Key {
        Key {
            name: name.to_string(),
            ..Key::default()
        }
    }

    /// The direct subkey `name` (case-insensitive).
    pub fn subkey(&self, name: &str) -> Option<&Key> {
        self.subkeys
            .iter()
            .find(|k| k.name.eq_ignore_ascii_case(name))
    }

    /// The direct subkey `name`, created when absent.
    pub fn subkey_mut(&mut self, name: &str) -> &mut Key {
        let index = match self
            .subkeys
            .iter()
            .position(|k| k.name.eq_ignore_ascii_case(name))
        {
            Some(i) => i,
            None => {
                self.subkeys.push(Key::new(name));
                self.subkeys.len() - 1
            }
        };
        &mut self.subkeys[index]
    }

    /// The value `name` (case-insensitive; `""` is the key's default value).
    pub fn value(&self, name: &str) -> Option<&RegValue> {
        self.values
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Sets (replaces or adds) the value `name`.
    pub fn set(&mut self, name: &str, value: RegValue) {
        match self
            .values
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.values.push((name.to_string(), value)),
        }
    }
}

/// Splits a `StdRegProv` subkey path into its parts (`\` separated; empty parts from
/// leading, trailing or doubled separators are skipped, as RegOpenKeyEx does for leading
/// ones).
pub fn path_parts(path: &str) -> impl Iterator<Item = &str> {
    path.split('\\').filter(|p| !p.is_empty())
}

/// A host's registry: one root key per hive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Registry {
    hives: Vec<(u32, Key)>,
}

impl Registry {
    /// An empty registry with every hive present.
    pub fn new() -> Registry {
        Registry {
            hives: HIVES.iter().map(|h| (*h, Key::new(""))).collect(),
        }
    }

    /// The root key of `hive`, `None` for an unknown handle.
    pub fn hive(&self, hive: u32) -> Option<&Key> {
        self.hives.iter().find(|(h, _)| *h == hive).map(|(_, k)| k)
    }

    fn hive_mut(&mut self, hive: u32) -> &mut Key {
        let index = match self.hives.iter().position(|(h, _)| *h == hive) {
            Some(i) => i,
            None => {
                self.hives.push((hive, Key::new("")));
                self.hives.len() - 1
            }
        };
        &mut self.hives[index].1
    }

    /// The key at `path` under `hive`.
    pub fn key(&self, hive: u32, path: &str) -> Option<&Key> {
        let mut key = self.hive(hive)?;
        for part in path_parts(path) {
            key = key.subkey(part)?;
        }
        Some(key)
    }

    /// The key at `path` under `hive`, created with its parents when absent.
    pub fn key_mut(&mut self, hive: u32, path: &str) -> &mut Key {
        let mut key = self.hive_mut(hive);
        for part in path_parts(path) {
            key = key.subkey_mut(part);
        }
        key
    }

    /// Sets a value, creating the key.
    pub fn set(&mut self, hive: u32, path: &str, name: &str, value: RegValue) {
        self.key_mut(hive, path).set(name, value);
    }

    /// The value `name` of the key at `path`.
    pub fn value(&self, hive: u32, path: &str, name: &str) -> Option<&RegValue> {
        self.key(hive, path)?.value(name)
    }
}
