//! The closed vocabularies of the event catalogue: locations, kinds of check,
//! seized items, offences, forms of exploitation.

use crate::json::{wrong_kind, FieldError, FromJson, Json};

/// Declares a closed vocabulary: a fieldless enum written as snake_case
/// strings, with the list of all its words.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            /// Every word, in catalogue order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }

            pub fn parse(word: &str) -> Option<$name> {
                match word {
                    $($word => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let word = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::parse(&word).ok_or_else(|| {
                    serde::de::Error::custom(format_args!(concat!("unknown ", $what, " {:?}"), word))
                })
            }
        }

        impl FromJson for $name {
            fn from_json(value: &Json, path: &str) -> Result<$name, FieldError> {
                let Json::String(word) = value else {
                    return Err(wrong_kind(path, concat!("a ", $what), value));
                };
                $name::parse(word).ok_or_else(|| {
                    let words: Vec<&str> = $name::ALL.iter().map(|w| w.as_str()).collect();
                    FieldError::new(
                        path,
                        format!(concat!("unknown ", $what, " {:?} (one of {})"), word, words.join(", ")),
                    )
                })
            }
        }
    };
}

vocabulary! {
    /// Where an outcome happened.
    Location, "location" {
        BorderCrossing => "border_crossing",
        RailStation => "rail_station",
        BusStation => "bus_station",
        Airport => "airport",
        Seaport => "seaport",
        Road => "road",
        EntertainmentDistrict => "entertainment_district",
        Other => "other",
    }
}

vocabulary! {
    /// What was checked.
    CheckKind, "kind of check" {
        Passenger => "passenger",
        Person => "person",
        Vehicle => "vehicle",
        Flight => "flight",
        Parcel => "parcel",
        Premises => "premises",
    }
}

vocabulary! {
    /// What was seized (drugs and cash have events of their own).
    Item, "item" {
        CounterfeitDocument => "counterfeit_document",
        Boat => "boat",
        InflatableBoatOrBuoy => "inflatable_boat_or_buoy",
        Firearm => "firearm",
        Ammunition => "ammunition",
        Vehicle => "vehicle",
        Device => "device",
        Other => "other",
    }
}

vocabulary! {
    /// What a suspect is arrested for.
    Offence, "offence" {
        TraffickingInPersons => "trafficking_in_persons",
        MigrantSmuggling => "migrant_smuggling",
        DocumentFraud => "document_fraud",
        Drugs => "drugs",
        Firearms => "firearms",
        Other => "other",
    }
}

vocabulary! {
    /// How a rescued victim was exploited.
    Exploitation, "form of exploitation" {
        Sexual => "sexual",
        Labour => "labour",
        Begging => "begging",
        ForcedCriminality => "forced_criminality",
        Other => "other",
    }
}

/// A set of offences, as a bitmask over [`Offence::ALL`]: what replay reads
/// from an arrest without allocating a list.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct OffenceSet(u8);

impl OffenceSet {
    /// No offence stated.
    pub const EMPTY: OffenceSet = OffenceSet(0);

    fn bit(offence: Offence) -> u8 {
        let index = Offence::ALL.iter().position(|o| *o == offence).unwrap_or(0);
        1 << index
    }

    /// The set with `offence` added.
    pub fn with(self, offence: Offence) -> OffenceSet {
        OffenceSet(self.0 | OffenceSet::bit(offence))
    }

    pub fn contains(&self, offence: Offence) -> bool {
        self.0 & OffenceSet::bit(offence) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The offences in the set, in catalogue order.
    pub fn iter(&self) -> impl Iterator<Item = Offence> + '_ {
        Offence::ALL.iter().copied().filter(|o| self.contains(*o))
    }
}

impl FromIterator<Offence> for OffenceSet {
    fn from_iter<I: IntoIterator<Item = Offence>>(iter: I) -> OffenceSet {
        iter.into_iter().fold(OffenceSet::EMPTY, OffenceSet::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for item in Item::ALL {
            assert_eq!(Item::parse(item.as_str()), Some(*item));
        }
        for location in Location::ALL {
            assert_eq!(Location::parse(location.as_str()), Some(*location));
        }
        assert_eq!(CheckKind::parse("Passenger"), None);
    }

    #[test]
    fn an_offence_set_holds_what_was_added_in_catalogue_order() {
        let set: OffenceSet = [Offence::Firearms, Offence::TraffickingInPersons]
            .into_iter()
            .collect();
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![Offence::TraffickingInPersons, Offence::Firearms]
        );
        assert!(!set.contains(Offence::Drugs));
        assert!(OffenceSet::EMPTY.is_empty());
    }

    #[test]
    fn unknown_words_list_the_known_ones() {
        let error =
            Item::from_json(&Json::String("boats".into()), "data.item").expect_err("unknown");
        assert_eq!(error.path, "data.item");
        assert!(error.message.contains("inflatable_boat_or_buoy"), "{error}");
    }
}
