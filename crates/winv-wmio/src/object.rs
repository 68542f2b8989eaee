//! The object model of [MS-WMIO] 2.2: what an `EncodingUnit` holds, in typed form.
//!
//! The model keeps what the encoding says, so that decoding and encoding again gives the
//! same object: the NULL / default distinction of the NdTable ([MS-WMIO] 2.2.26), qualifier
//! flavors, declaration order and class of origin.

use std::sync::Arc;

use crate::value::{CimType, Value};

/// `Decoration` ([MS-WMIO] 2.2.8): the server and namespace an object came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoration {
    pub server: String,
    pub namespace: String,
}

/// A qualifier ([MS-WMIO] 2.2.60): name, flavor bits and typed value.
#[derive(Debug, Clone, PartialEq)]
pub struct Qualifier {
    pub name: String,
    /// `QualifierFlavor` bits ([MS-WMIO] 2.2.62).
    pub flavor: u8,
    pub value: Value,
}

/// The state of one property value, as the NdTable ([MS-WMIO] 2.2.26) says it.
///
/// - `Null`: the value is NULL (never confuse with a stored 0 or empty string);
/// - `Default`: no value of its own: in an instance, the class default applies; in a class,
///   the default is inherited from the parent class;
/// - `Set`: a value stored in this object.
#[derive(Debug, Clone, PartialEq)]
pub enum Slot {
    Null,
    Default,
    Set(Value),
}

/// A property of a class ([MS-WMIO] 2.2.19 PropertyLookup, 2.2.25 PropertyInfo).
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub name: String,
    pub cim_type: CimType,
    /// `DeclarationOrder`: the property's index in the NdTable and value table.
    pub order: u16,
    /// `ClassOfOrigin`: index into the derivation of the class that declared it.
    pub origin: u32,
    /// Inherited from a parent class (the 0x4000 bit of its CimType on the wire).
    pub inherited: bool,
    pub qualifiers: Vec<Qualifier>,
    /// The class's default value for the property.
    pub default: Slot,
}

/// A method of a class ([MS-WMIO] 2.2.40 MethodDescription) with its parameter signatures,
/// which are `__PARAMETERS` class objects ([MS-WMIO] 2.2.47 MethodSignatureBlock).
#[derive(Debug, Clone, PartialEq)]
pub struct Method {
    pub name: String,
    pub flags: u8,
    pub origin: u32,
    pub qualifiers: Vec<Qualifier>,
    pub input: Option<Box<Object>>,
    pub output: Option<Box<Object>>,
}

/// One class part ([MS-WMIO] 2.2.14 ClassPart, with its methods, 2.2.38 MethodsPart).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClassDef {
    /// The class name; empty for the parent part of a class that has no parent.
    pub name: String,
    /// The ancestors, nearest first ([MS-WMIO] 2.2.17 DerivationList).
    pub derivation: Vec<String>,
    pub qualifiers: Vec<Qualifier>,
    /// Every property, including inherited ones, in declaration order (`properties[i].order
    /// == i`).
    pub properties: Vec<Property>,
    pub methods: Vec<Method>,
}

impl ClassDef {
    /// The immediate superclass, if any.
    pub fn superclass(&self) -> Option<&str> {
        self.derivation.first().map(String::as_str)
    }

    /// The property named `name` (case-insensitive, as CIM names are).
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }
}

/// An instance ([MS-WMIO] 2.2.53 InstanceType): its class part and one slot per property,
/// indexed like `class.properties`.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The class, shared by the instances of one enumeration that came with it.
    pub class: Arc<ClassDef>,
    pub values: Vec<Slot>,
    pub qualifiers: Vec<Qualifier>,
    /// Per-property instance qualifiers ([MS-WMIO] 2.2.57 InstancePropQualifierSet), by
    /// property name.
    pub property_qualifiers: Vec<(String, Vec<Qualifier>)>,
}

impl Instance {
    /// The value of property `name` as a client sees it: `None` when the property is
    /// unknown or NULL; a `Default` slot resolves to the class default.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let index = self
            .class
            .properties
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(name))?;
        match self.values.get(index)? {
            Slot::Set(v) => Some(v),
            Slot::Null => None,
            Slot::Default => match &self.class.properties.get(index)?.default {
                Slot::Set(v) => Some(v),
                _ => None,
            },
        }
    }
}

/// What an object is: a class (its parent's class part and its own) or an instance.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectKind {
    Class { parent: ClassDef, current: ClassDef },
    Instance(Instance),
}

/// An `ObjectBlock` ([MS-WMIO] 2.2.5): an optional decoration and a class or an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub decoration: Option<Decoration>,
    pub kind: ObjectKind,
}

impl Object {
    /// The name of the class this object is or is an instance of.
    pub fn class_name(&self) -> &str {
        match &self.kind {
            ObjectKind::Class { current, .. } => &current.name,
            ObjectKind::Instance(i) => &i.class.name,
        }
    }
}
