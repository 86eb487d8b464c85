//! RTP sequence numbers wrap at 16 bits; the jitter buffers order packets by a count that does
//! not.

/// Extends 16-bit sequence numbers into a count that keeps growing across wraps.
#[derive(Debug, Default)]
pub(crate) struct SequenceExtender {
    highest: Option<u64>,
}

impl SequenceExtender {
    /// The extended number of `seq`: the one nearest the highest seen so far.
    pub fn extend(&mut self, seq: u16) -> u64 {
        let extended = match self.highest {
            // Start far from zero so packets from just before the first one still sort first.
            None => (1 << 32) + u64::from(seq),
            Some(highest) => {
                let delta = i64::from(seq.wrapping_sub(highest as u16) as i16);
                highest.saturating_add_signed(delta)
            }
        };
        if self.highest.is_none_or(|h| extended > h) {
            self.highest = Some(extended);
        }
        extended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_on_across_the_wrap_and_places_late_ones_behind() {
        let mut e = SequenceExtender::default();
        let first = e.extend(65_534);
        assert_eq!(e.extend(65_535), first + 1);
        assert_eq!(e.extend(1), first + 3);
        assert_eq!(
            e.extend(0),
            first + 2,
            "a late packet sorts before the newest"
        );
    }
}
