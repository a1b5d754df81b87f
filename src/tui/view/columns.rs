//! Table columns that give way by priority as the terminal narrows: every
//! column gets the width its widest cell wants while that fits, so a name,
//! a profile or a status is never cut while free width exists.

/// One column of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The width of its widest cell, header included.
    pub want: u16,
    /// What it may be cut to, and when: lower priorities give way first.
    pub cut: Option<(u16, u8)>,
    /// When it is dropped altogether; `None`: never.
    pub drop: Option<u8>,
}

impl Column {
    /// A column of fixed width, dropped at priority `drop`.
    pub fn fixed(want: u16, drop: u8) -> Column {
        Column {
            want,
            cut: None,
            drop: Some(drop),
        }
    }

    /// The width of its widest cell among `cells`, header included.
    pub fn widest<'a>(header: &str, cells: impl IntoIterator<Item = &'a str>) -> u16 {
        let widest = cells
            .into_iter()
            .map(|c| c.chars().count())
            .chain([header.chars().count()])
            .max()
            .unwrap_or(0);
        u16::try_from(widest).unwrap_or(u16::MAX)
    }
}

/// The width of each column in `width` (`spacing` between two), `None`
/// for a dropped one. While the wants do not fit, columns give way in
/// priority order, lowest first: a cut column shrinks to its minimum, a
/// droppable one goes. Width left over afterwards goes back to cut columns.
pub fn fit(width: u16, spacing: u16, columns: &[Column]) -> Vec<Option<u16>> {
    let mut widths: Vec<Option<u16>> = columns.iter().map(|c| Some(c.want)).collect();
    let used = |widths: &[Option<u16>]| -> u32 {
        let kept: Vec<u32> = widths.iter().flatten().map(|w| u32::from(*w)).collect();
        kept.iter().sum::<u32>() + u32::from(spacing) * (kept.len().saturating_sub(1) as u32)
    };
    let width = u32::from(width);
    // (priority, column, is a drop): cuts before drops at equal priority.
    let mut steps: Vec<(u8, bool, usize)> = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        if let Some((_, priority)) = c.cut {
            steps.push((priority, false, i));
        }
        if let Some(priority) = c.drop {
            steps.push((priority, true, i));
        }
    }
    steps.sort();
    for (_, is_drop, i) in steps {
        let over = used(&widths).saturating_sub(width);
        if over == 0 {
            break;
        }
        if is_drop {
            widths[i] = None;
        } else if let (Some(w), Some((min, _))) = (widths[i], columns[i].cut) {
            let cut = u32::from(w.saturating_sub(min)).min(over);
            widths[i] = Some(w - cut as u16);
        }
    }
    // What the drops freed beyond the need goes back to the cut columns.
    let mut spare = width.saturating_sub(used(&widths));
    for (i, c) in columns.iter().enumerate() {
        if let (Some(w), Some(_)) = (widths[i], c.cut) {
            let back = u32::from(c.want.saturating_sub(w)).min(spare);
            widths[i] = Some(w + back as u16);
            spare -= back;
        }
    }
    widths
}

/// Keep the entries of `items` whose column was kept.
pub fn kept<T>(items: impl IntoIterator<Item = T>, widths: &[Option<u16>]) -> Vec<T> {
    items
        .into_iter()
        .zip(widths)
        .filter_map(|(item, w)| w.map(|_| item))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(want: u16) -> Column {
        Column {
            want,
            cut: Some((4, u8::MAX)),
            drop: None,
        }
    }

    #[test]
    fn everything_fits_at_its_want() {
        let cols = [name(20), Column::fixed(8, 1), Column::fixed(4, 0)];
        assert_eq!(fit(80, 1, &cols), vec![Some(20), Some(8), Some(4)]);
        assert_eq!(fit(34, 1, &cols), vec![Some(20), Some(8), Some(4)]);
    }

    #[test]
    fn lowest_priority_goes_first_and_the_name_last() {
        let cols = [name(20), Column::fixed(8, 1), Column::fixed(4, 0)];
        assert_eq!(fit(33, 1, &cols), vec![Some(20), Some(8), None]);
        assert_eq!(fit(29, 1, &cols), vec![Some(20), Some(8), None]);
        assert_eq!(fit(28, 1, &cols), vec![Some(20), None, None]);
        assert_eq!(fit(10, 1, &cols), vec![Some(10), None, None]);
        assert_eq!(fit(2, 1, &cols), vec![Some(4), None, None]);
    }

    #[test]
    fn a_long_command_is_cut_before_columns_are_dropped() {
        let command = Column {
            want: 100,
            cut: Some((10, 0)),
            drop: None,
        };
        let cols = [name(6), command, Column::fixed(5, 1)];
        assert_eq!(fit(40, 1, &cols), vec![Some(6), Some(27), Some(5)]);
        // Dropping the fixed column gives its room back to the command.
        assert_eq!(fit(20, 1, &cols), vec![Some(6), Some(13), None]);
    }
}
