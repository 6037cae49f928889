//! Enums whose values have one stable name (`EMERGENCY_REPAIR`): in JSON
//! (serde), in the database, in the API (after the proto enum's prefix,
//! see `grpc::convert::wire_enum`) and in reports. One macro writes the
//! enum, `ALL`, `as_str` and `parse` from the list of (variant, name).

/// `wire_enum! { /// doc  Name { Variant = "NAME", ... } }`
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $( $(#[$vm:meta])* $v:ident = $s:literal, )* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $( $(#[$vm])* #[serde(rename = $s)] $v, )*
        }

        impl $name {
            pub const ALL: &[$name] = &[ $( $name::$v, )* ];

            pub fn as_str(self) -> &'static str {
                match self { $( $name::$v => $s, )* }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s { $( $s => Some($name::$v), )* _ => None }
            }
        }
    };
}

pub(crate) use wire_enum;
