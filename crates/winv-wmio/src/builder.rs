//! Convenience for building and reading the object model ([MS-WMIO] 2.2): terse class
//! definitions, type-checked instance values, key paths ([MS-WMI] 2.2.31 object paths).

use std::sync::Arc;

use crate::encode::value_fits;
use crate::error::WmioError;
use crate::object::{
    ClassDef, Decoration, Instance, Method, Object, ObjectKind, Property, Qualifier, Slot,
};
use crate::value::{CimType, Value};

/// `QualifierFlavor` bits ([MS-WMIO] 2.2.62).
pub mod flavor {
    /// `WBEM_FLAVOR_FLAG_PROPAGATE_TO_INSTANCE`.
    pub const PROPAGATE_TO_INSTANCE: u8 = 0x01;
    /// `WBEM_FLAVOR_FLAG_PROPAGATE_TO_DERIVED_CLASS`.
    pub const PROPAGATE_TO_DERIVED_CLASS: u8 = 0x02;
    /// `WBEM_FLAVOR_NOT_OVERRIDABLE`.
    pub const NOT_OVERRIDABLE: u8 = 0x10;
    /// `WBEM_FLAVOR_ORIGIN_PROPAGATED`: inherited, not local.
    pub const ORIGIN_PROPAGATED: u8 = 0x20;
    /// `WBEM_FLAVOR_ORIGIN_SYSTEM`.
    pub const ORIGIN_SYSTEM: u8 = 0x40;
    /// `WBEM_FLAVOR_AMENDED`.
    pub const AMENDED: u8 = 0x80;
}

impl Qualifier {
    /// A qualifier with flavor 0 (local, not propagated).
    pub fn new(name: impl Into<String>, value: Value) -> Qualifier {
        Qualifier {
            name: name.into(),
            flavor: 0,
            value,
        }
    }

    /// The `key` qualifier (boolean true), propagated to instances and subclasses.
    pub fn key() -> Qualifier {
        Qualifier {
            name: "key".into(),
            flavor: flavor::PROPAGATE_TO_INSTANCE | flavor::PROPAGATE_TO_DERIVED_CLASS,
            value: Value::Boolean(true),
        }
    }

    /// The same qualifier with `flavor`.
    pub fn with_flavor(mut self, flavor: u8) -> Qualifier {
        self.flavor = flavor;
        self
    }
}

fn find_qualifier<'a>(qs: &'a [Qualifier], name: &str) -> Option<&'a Qualifier> {
    qs.iter().find(|q| q.name.eq_ignore_ascii_case(name))
}

impl Property {
    /// The qualifier named `name` (case-insensitive).
    pub fn qualifier(&self, name: &str) -> Option<&Qualifier> {
        find_qualifier(&self.qualifiers, name)
    }

    /// Whether the property carries a true `key` qualifier.
    pub fn is_key(&self) -> bool {
        matches!(
            self.qualifier("key"),
            Some(Qualifier {
                value: Value::Boolean(true),
                ..
            })
        )
    }
}

impl ClassDef {
    /// A class named `name` with ancestors `derivation` (nearest first) and no properties.
    pub fn new(name: impl Into<String>, derivation: &[&str]) -> ClassDef {
        ClassDef {
            name: name.into(),
            derivation: derivation.iter().map(|s| (*s).to_string()).collect(),
            ..ClassDef::default()
        }
    }

    /// Adds a property declared by this class (order = next index, origin 0, NULL default).
    pub fn with_property(
        mut self,
        name: impl Into<String>,
        cim_type: CimType,
        qualifiers: Vec<Qualifier>,
    ) -> ClassDef {
        let order = u16::try_from(self.properties.len()).unwrap_or(u16::MAX);
        self.properties.push(Property {
            name: name.into(),
            cim_type,
            order,
            origin: 0,
            inherited: false,
            qualifiers,
            default: Slot::Null,
        });
        self
    }

    /// Sets the default of the last property added.
    pub fn default_value(mut self, value: Value) -> ClassDef {
        if let Some(p) = self.properties.last_mut() {
            p.default = Slot::Set(value);
        }
        self
    }

    /// Adds a class qualifier.
    pub fn with_qualifier(mut self, q: Qualifier) -> ClassDef {
        self.qualifiers.push(q);
        self
    }

    /// Adds a method with optional `__PARAMETERS` signatures.
    pub fn with_method(
        mut self,
        name: impl Into<String>,
        input: Option<ClassDef>,
        output: Option<ClassDef>,
    ) -> ClassDef {
        let sig = |c: Option<ClassDef>| c.map(|c| Box::new(Object::class(c)));
        self.methods.push(Method {
            name: name.into(),
            flags: 0,
            origin: 0,
            qualifiers: Vec::new(),
            input: sig(input),
            output: sig(output),
        });
        self
    }

    /// The class qualifier named `name` (case-insensitive).
    pub fn class_qualifier(&self, name: &str) -> Option<&Qualifier> {
        find_qualifier(&self.qualifiers, name)
    }

    /// A `__PARAMETERS` class ([MS-WMIO] 2.2.47) with one property per parameter, each with
    /// an `ID` qualifier and `in` or `out`.
    pub fn parameters(params: &[(&str, CimType)], direction_in: bool) -> ClassDef {
        let mut c = ClassDef::new("__PARAMETERS", &[]);
        for (i, (name, t)) in params.iter().enumerate() {
            let id = i32::try_from(i).unwrap_or(i32::MAX);
            let dir = if direction_in { "in" } else { "out" };
            c = c.with_property(
                *name,
                *t,
                vec![
                    Qualifier::new(dir, Value::Boolean(true)),
                    Qualifier::new("ID", Value::Sint32(id)),
                ],
            );
        }
        c
    }

    /// The method named `name` (case-insensitive).
    pub fn method_named(&self, name: &str) -> Option<&Method> {
        self.methods
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
    }
}

impl Instance {
    /// An instance of `class` with every property `Default` (the class default applies).
    pub fn new(class: ClassDef) -> Instance {
        Instance::of(Arc::new(class))
    }

    /// [`Instance::new`] on a class shared with other instances (the in-parameters of many
    /// calls of one method share its signature).
    pub fn of(class: Arc<ClassDef>) -> Instance {
        let values = vec![Slot::Default; class.properties.len()];
        Instance {
            class,
            values,
            qualifiers: Vec::new(),
            property_qualifiers: Vec::new(),
        }
    }

    fn index(&self, name: &str) -> Result<usize, WmioError> {
        self.class
            .properties
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| WmioError::UnknownProperty(name.to_string()))
    }

    /// Sets property `name` (case-insensitive) to `value`, which must have its CIM type.
    pub fn set(&mut self, name: &str, value: Value) -> Result<(), WmioError> {
        let i = self.index(name)?;
        let p = &self.class.properties[i];
        if !value_fits(&value, p.cim_type) {
            return Err(WmioError::TypeMismatch {
                name: p.name.clone(),
                expected: p.cim_type,
            });
        }
        if let Some(slot) = self.values.get_mut(i) {
            *slot = Slot::Set(value);
        }
        Ok(())
    }

    /// Sets property `name` to NULL.
    pub fn set_null(&mut self, name: &str) -> Result<(), WmioError> {
        let i = self.index(name)?;
        if let Some(slot) = self.values.get_mut(i) {
            *slot = Slot::Null;
        }
        Ok(())
    }

    /// The slot of property `name` as stored (no default resolution).
    pub fn slot(&self, name: &str) -> Option<&Slot> {
        self.values.get(self.index(name).ok()?)
    }

    /// The relative object path from the `key` properties: `Class.K1="v",K2=5`, sorted by
    /// key name; `Class=@` for a class with the `singleton` qualifier and no keys. `None`
    /// when a key is NULL or the class has neither keys nor `singleton`.
    pub fn rel_path(&self) -> Option<String> {
        let mut keys: Vec<&Property> = self
            .class
            .properties
            .iter()
            .filter(|p| p.is_key())
            .collect();
        if keys.is_empty() {
            return self
                .class
                .class_qualifier("singleton")
                .map(|_| format!("{}=@", self.class.name));
        }
        keys.sort_by_key(|p| p.name.to_ascii_lowercase());
        let mut parts = Vec::with_capacity(keys.len());
        for p in keys {
            let v = self.get(&p.name)?;
            parts.push(format!("{}={}", p.name, path_literal(v)?));
        }
        Some(format!("{}.{}", self.class.name, parts.join(",")))
    }
}

fn path_literal(v: &Value) -> Option<String> {
    Some(match v {
        Value::String(s) | Value::DateTime(s) | Value::Reference(s) => {
            format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
        }
        Value::Boolean(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Value::Real32(x) => x.to_string(),
        Value::Real64(x) => x.to_string(),
        Value::Char16(c) => c.to_string(),
        other => other.as_i128()?.to_string(),
    })
}

impl Object {
    /// A class object with no parent part and no decoration.
    pub fn class(current: ClassDef) -> Object {
        Object {
            decoration: None,
            kind: ObjectKind::Class {
                parent: ClassDef::default(),
                current,
            },
        }
    }

    /// An instance object with no decoration.
    pub fn from_instance(instance: Instance) -> Object {
        Object {
            decoration: None,
            kind: ObjectKind::Instance(instance),
        }
    }

    /// The same object decorated with `server` and `namespace` ([MS-WMIO] 2.2.7).
    pub fn decorated(mut self, server: impl Into<String>, namespace: impl Into<String>) -> Object {
        self.decoration = Some(Decoration {
            server: server.into(),
            namespace: namespace.into(),
        });
        self
    }

    /// The instance, if this object is one.
    pub fn instance(&self) -> Option<&Instance> {
        match &self.kind {
            ObjectKind::Instance(i) => Some(i),
            ObjectKind::Class { .. } => None,
        }
    }

    /// The class definition: the current class part of a class, or an instance's class.
    pub fn class_def(&self) -> Option<&ClassDef> {
        match &self.kind {
            ObjectKind::Class { current, .. } => Some(current),
            ObjectKind::Instance(i) => Some(&i.class),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use crate::value::CimBase;

    fn service() -> ClassDef {
        ClassDef::new("Win32_Service", &["Win32_BaseService", "CIM_Service"])
            .with_property(
                "Name",
                CimType::scalar(CimBase::String),
                vec![Qualifier::key()],
            )
            .with_property("State", CimType::scalar(CimBase::String), vec![])
            .default_value(Value::String("Stopped".into()))
            .with_property("ProcessId", CimType::scalar(CimBase::Uint32), vec![])
    }

    #[test]
    fn new_set_get_and_defaults() {
        let mut i = Instance::new(service());
        assert_eq!(i.get("state"), Some(&Value::String("Stopped".into())));
        assert_eq!(i.get("ProcessId"), None);
        i.set("processid", Value::Uint32(0)).unwrap();
        assert_eq!(i.get("ProcessId"), Some(&Value::Uint32(0)));
        i.set_null("State").unwrap();
        assert_eq!(i.get("State"), None);
        assert!(matches!(
            i.set("ProcessId", Value::Sint32(1)),
            Err(WmioError::TypeMismatch { .. })
        ));
        assert!(matches!(
            i.set("Nope", Value::Sint32(1)),
            Err(WmioError::UnknownProperty(_))
        ));
    }

    #[test]
    fn rel_path_keys_and_singleton() {
        let mut i = Instance::new(service());
        assert_eq!(i.rel_path(), None, "null key has no path");
        i.set("Name", Value::String("Spo\"oler".into())).unwrap();
        assert_eq!(
            i.rel_path().as_deref(),
            Some("Win32_Service.Name=\"Spo\\\"oler\"")
        );
        let s = ClassDef::new("Win32_WMISetting", &[])
            .with_qualifier(Qualifier::new("singleton", Value::Boolean(true)))
            .with_property("X", CimType::scalar(CimBase::Uint8), vec![]);
        assert_eq!(
            Instance::new(s).rel_path().as_deref(),
            Some("Win32_WMISetting=@")
        );
    }

    #[test]
    fn arrays_are_type_checked_per_item() {
        let c =
            ClassDef::new("C", &[]).with_property("A", CimType::array_of(CimBase::Uint16), vec![]);
        let mut i = Instance::new(c);
        assert!(i
            .set("A", Value::Array(CimBase::Uint16, vec![Value::Uint16(1)]))
            .is_ok());
        assert!(i
            .set("A", Value::Array(CimBase::Uint16, vec![Value::Uint32(1)]))
            .is_err());
        assert!(i.set("A", Value::Uint16(1)).is_err());
    }
}
