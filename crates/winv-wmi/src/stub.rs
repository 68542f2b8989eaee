//! The macro that declares the parameter structures of one method direction.

/// Declares a structure holding the parameters of one direction of a method call, each
/// field one top-level parameter in IDL order (its Rust type gives its NDR form), with
/// inherent `encode` / `decode` over the NDR stub data ([MS-RPCE] 2.2.5).
///
/// INVARIANT: the fields are listed in IDL order; a struct expression evaluates its fields
/// in the order written, so `decode` reads them in that order.
macro_rules! params {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $f:ident : $t:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $f: $t ),*
        }

        impl $name {
            /// Encodes the parameters as NDR stub data, in IDL order.
            pub fn encode(&self) -> $crate::Result<Vec<u8>> {
                let mut w = winv_ndr::NdrWriter::new();
                $( w.write(&self.$f)?; )*
                Ok(w.into_bytes())
            }

            /// Decodes NDR stub data. Fails on malformed input and on trailing bytes.
            pub fn decode(data: &[u8]) -> $crate::Result<Self> {
                let mut r = winv_ndr::NdrReader::new(data);
                let v = Self { $( $f: r.read()?, )* };
                r.finish()?;
                Ok(v)
            }
        }
    };
}

/// Gives a request structure its opnum.
macro_rules! opnum {
    ($($name:ident = $op:expr),* $(,)?) => {$(
        impl $name {
            /// The method's opnum on its interface.
            pub const OPNUM: u16 = $op;
        }
    )*};
}

pub(crate) use {opnum, params};
