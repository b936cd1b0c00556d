//! Tracks within one exposure of one chip: linking per-frame detections, and classifying the
//! tracks as single events, moving objects or static sources.
//!
//! Why our own: this is the light-curve database's grouping rule, specified by the project
//! (±3 px box to the track's most recent position, one detection per track per frame,
//! deterministic ties), not a generic clustering.
//!
//! * **Linking**, frame by frame: every (track, detection) pair within `max_dx` × `max_dy` of the
//!   track's most recent position is a candidate; candidates are taken in order of increasing
//!   distance (ties: lower track id, then lower detection index), each track and each detection
//!   at most once per frame; detections left over start new tracks. Tracks stay open for the
//!   whole exposure, so a star missed in one frame rejoins its track.
//! * **Single**: seen in one frame only (cosmic ray, fast mover, streak).
//! * **Moving**: a least-squares line x(t), y(t) through the positions; the scatter about it
//!   gives the position error σ (pooled over x and y, floored at `position_floor`), the rate's
//!   error σ/√Σ(t − t̄)². A track is moving when the rate differs from zero by at least
//!   `motion_sigma` standard errors (|v|² / σ_v² ≥ `motion_sigma`²), it moved at least
//!   `min_motion` pixels over its span, and it has at least `min_frames_moving` points.
//! * **Static**: the rest; the position is the median of its points (so a frame of "seeing
//!   dance" does not move it), the error 1.2533 × 1.4826 MAD / √n.
//!
//! Units: pixels (0-based or 1-based, as given) and seconds (any origin).

/// A detection in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Column [px].
    pub x: f64,
    /// Row [px].
    pub y: f64,
    /// Time of the detection [s] (e.g. its rolling-shutter mid-exposure time).
    pub t: f64,
}

/// Parameters of [`link`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackParams {
    /// Largest |Δx| to a track's most recent position [px].
    pub max_dx: f64,
    /// Largest |Δy| [px].
    pub max_dy: f64,
    /// Fewest points for a moving object.
    pub min_frames_moving: usize,
    /// Significance of the rate for a moving object [σ].
    pub motion_sigma: f64,
    /// Smallest displacement over the track for a moving object [px].
    pub min_motion: f64,
    /// Floor of the per-point position error [px].
    pub position_floor: f64,
}

impl Default for TrackParams {
    fn default() -> Self {
        Self {
            max_dx: 3.0,
            max_dy: 3.0,
            min_frames_moving: 3,
            motion_sigma: 5.0,
            min_motion: 1.0,
            position_floor: 0.02,
        }
    }
}

/// What a track is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    /// One frame only.
    Single,
    /// Significant linear motion.
    Moving,
    /// Everything else.
    Static,
}

/// Linear motion of a moving track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Motion {
    /// Reference time t̄ (mean of the points) [s].
    pub t_ref: f64,
    /// Position at `t_ref` [px].
    pub x_ref: f64,
    /// Position at `t_ref` [px].
    pub y_ref: f64,
    /// Rate in x [px/s].
    pub vx: f64,
    /// Rate in y [px/s].
    pub vy: f64,
    /// 1σ error of each rate component [px/s].
    pub v_err: f64,
    /// Speed √(vx² + vy²) [px/s].
    pub rate: f64,
    /// Direction of motion atan2(vy, vx) [deg], in (−180, 180].
    pub direction: f64,
    /// 1σ error of the direction [deg] (v_err / rate in radians).
    pub direction_err: f64,
    /// Per-point position scatter about the line [px].
    pub sigma: f64,
}

/// One track.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Identifier in order of creation (frame, then detection index).
    pub id: usize,
    /// `(frame, detection index)` of every point, in frame order.
    pub points: Vec<(usize, usize)>,
    /// Classification.
    pub kind: TrackKind,
    /// Position [px]: the median for static tracks, the first point for singles, the position
    /// at the reference time for moving ones.
    pub x: f64,
    /// Position [px].
    pub y: f64,
    /// 1σ error of `x` [px] (0 for singles).
    pub x_err: f64,
    /// 1σ error of `y` [px].
    pub y_err: f64,
    /// The fitted motion (moving tracks only).
    pub motion: Option<Motion>,
}

struct Open {
    x: f64,
    y: f64,
    points: Vec<(usize, usize)>,
}

/// Links detections (`frames[k]` = detections of frame k) into classified tracks.
pub fn link(frames: &[Vec<Detection>], p: &TrackParams) -> Vec<Track> {
    let cell = p.max_dx.max(p.max_dy).max(1e-6);
    let key = |x: f64, y: f64| ((x / cell).floor() as i64, (y / cell).floor() as i64);
    let mut open: Vec<Open> = Vec::new();
    // Grid of track ids by their most recent position.
    let mut grid: crate::FastMap<(i64, i64), Vec<usize>> = crate::FastMap::default();
    // Buffers reused from frame to frame.
    let mut cands: Vec<(f64, usize, usize)> = Vec::new();
    let (mut track_used, mut det_used, mut moves) = (Vec::new(), Vec::new(), Vec::new());
    for (k, dets) in frames.iter().enumerate() {
        cands.clear();
        for (di, d) in dets.iter().enumerate() {
            let (cx, cy) = key(d.x, d.y);
            for gx in cx - 1..=cx + 1 {
                for gy in cy - 1..=cy + 1 {
                    let Some(ids) = grid.get(&(gx, gy)) else {
                        continue;
                    };
                    for &t in ids {
                        let (dx, dy) = (d.x - open[t].x, d.y - open[t].y);
                        if dx.abs() <= p.max_dx && dy.abs() <= p.max_dy {
                            cands.push((dx * dx + dy * dy, t, di));
                        }
                    }
                }
            }
        }
        // (track, detection) pairs are unique, so the order is total and an unstable sort exact.
        cands.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        track_used.clear();
        track_used.resize(open.len(), false);
        det_used.clear();
        det_used.resize(dets.len(), false);
        moves.clear();
        for &(_, t, di) in &cands {
            if track_used[t] || det_used[di] {
                continue;
            }
            track_used[t] = true;
            det_used[di] = true;
            moves.push((t, di));
        }
        for &(t, di) in &moves {
            let old = key(open[t].x, open[t].y);
            if let Some(v) = grid.get_mut(&old) {
                v.retain(|&x| x != t);
            }
            let d = dets[di];
            open[t].x = d.x;
            open[t].y = d.y;
            open[t].points.push((k, di));
            grid.entry(key(d.x, d.y)).or_default().push(t);
        }
        for (di, d) in dets.iter().enumerate() {
            if !det_used[di] {
                grid.entry(key(d.x, d.y)).or_default().push(open.len());
                open.push(Open {
                    x: d.x,
                    y: d.y,
                    points: vec![(k, di)],
                });
            }
        }
    }
    open.into_iter()
        .enumerate()
        .map(|(id, o)| classify(id, o.points, frames, p))
        .collect()
}

/// Drops static tracks lying within `radius_px` of a longer static track (ties: the lower id
/// stays), keeping the order of the others.
///
/// A source that the detection splits into two detections in some frames starts a second track
/// at its own place; measured in every frame by forced photometry, it would give the object each
/// of those frames twice. Within a radius well inside the seeing disc (Tomo-e: ~3 px FWHM), two
/// static tracks are one source.
pub fn drop_duplicate_statics(tracks: Vec<Track>, radius_px: f64) -> Vec<Track> {
    let mut order: Vec<usize> = (0..tracks.len())
        .filter(|&i| tracks[i].kind == TrackKind::Static)
        .collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(tracks[i].points.len()), tracks[i].id));
    let cell = radius_px.max(1e-6);
    let key = |x: f64, y: f64| ((x / cell).floor() as i64, (y / cell).floor() as i64);
    let mut kept: crate::FastMap<(i64, i64), Vec<(f64, f64)>> = Default::default();
    let mut drop = vec![false; tracks.len()];
    for i in order {
        let (x, y) = (tracks[i].x, tracks[i].y);
        let (cx, cy) = key(x, y);
        let near = (cx - 1..=cx + 1).any(|gx| {
            (cy - 1..=cy + 1).any(|gy| {
                kept.get(&(gx, gy))
                    .is_some_and(|v| v.iter().any(|&(a, b)| (a - x).hypot(b - y) <= radius_px))
            })
        });
        if near {
            drop[i] = true;
        } else {
            kept.entry((cx, cy)).or_default().push((x, y));
        }
    }
    tracks
        .into_iter()
        .zip(drop)
        .filter(|(_, d)| !d)
        .map(|(t, _)| t)
        .collect()
}

fn median(v: &mut [f64]) -> f64 {
    crate::stats::median(v).unwrap_or(f64::NAN)
}

fn robust_err(v: &[f64], med: f64) -> f64 {
    let mut dev: Vec<f64> = v.iter().map(|x| (x - med).abs()).collect();
    let mad = median(&mut dev);
    1.2533 * 1.4826 * mad / (v.len() as f64).sqrt()
}

fn classify(
    id: usize,
    points: Vec<(usize, usize)>,
    frames: &[Vec<Detection>],
    p: &TrackParams,
) -> Track {
    let pts: Vec<Detection> = points.iter().map(|&(k, d)| frames[k][d]).collect();
    let n = pts.len();
    if n == 1 {
        return Track {
            id,
            points,
            kind: TrackKind::Single,
            x: pts[0].x,
            y: pts[0].y,
            x_err: 0.0,
            y_err: 0.0,
            motion: None,
        };
    }
    let xs: Vec<f64> = pts.iter().map(|d| d.x).collect();
    let ys: Vec<f64> = pts.iter().map(|d| d.y).collect();
    let (xm, ym) = (median(&mut xs.clone()), median(&mut ys.clone()));
    let static_track = |points| Track {
        id,
        points,
        kind: TrackKind::Static,
        x: xm,
        y: ym,
        x_err: robust_err(&xs, xm),
        y_err: robust_err(&ys, ym),
        motion: None,
    };
    if n < p.min_frames_moving.max(3) {
        return static_track(points);
    }
    let nf = n as f64;
    let tm = pts.iter().map(|d| d.t).sum::<f64>() / nf;
    let stt: f64 = pts.iter().map(|d| (d.t - tm) * (d.t - tm)).sum();
    if stt <= 0.0 {
        return static_track(points);
    }
    let (xa, ya) = (xs.iter().sum::<f64>() / nf, ys.iter().sum::<f64>() / nf);
    let vx = pts.iter().map(|d| (d.t - tm) * (d.x - xa)).sum::<f64>() / stt;
    let vy = pts.iter().map(|d| (d.t - tm) * (d.y - ya)).sum::<f64>() / stt;
    let rss: f64 = pts
        .iter()
        .map(|d| {
            let (rx, ry) = (d.x - xa - vx * (d.t - tm), d.y - ya - vy * (d.t - tm));
            rx * rx + ry * ry
        })
        .sum();
    let sigma = (rss / (2.0 * nf - 4.0)).sqrt().max(p.position_floor);
    let v_err = sigma / stt.sqrt();
    let rate = vx.hypot(vy);
    let span = pts.iter().map(|d| d.t).fold(f64::NEG_INFINITY, f64::max)
        - pts.iter().map(|d| d.t).fold(f64::INFINITY, f64::min);
    let significant = rate >= p.motion_sigma * v_err && rate * span >= p.min_motion;
    if !significant {
        return static_track(points);
    }
    Track {
        id,
        points,
        kind: TrackKind::Moving,
        x: xa,
        y: ya,
        x_err: sigma / nf.sqrt(),
        y_err: sigma / nf.sqrt(),
        motion: Some(Motion {
            t_ref: tm,
            x_ref: xa,
            y_ref: ya,
            vx,
            vy,
            v_err,
            rate,
            direction: vy.atan2(vx).to_degrees(),
            direction_err: (v_err / rate).to_degrees(),
            sigma,
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_static_track_next_to_a_longer_one_is_dropped() {
        let t = |id: usize, n: usize, x: f64, y: f64, kind: TrackKind| Track {
            id,
            points: (0..n).map(|k| (k, 0)).collect(),
            kind,
            x,
            y,
            x_err: 0.0,
            y_err: 0.0,
            motion: None,
        };
        let tracks = vec![
            t(0, 3, 10.4, 10.2, TrackKind::Static), // the split-off duplicate
            t(1, 12, 10.0, 10.0, TrackKind::Static), // the source
            t(2, 12, 12.5, 10.0, TrackKind::Static), // another source, 2.5 px away
            t(3, 1, 10.1, 10.1, TrackKind::Single), // singles are left alone
            t(4, 6, 30.0, 30.0, TrackKind::Static),
            t(5, 6, 30.0, 31.0, TrackKind::Static), // equal length: the lower id stays
        ];
        let ids: Vec<usize> = drop_duplicate_statics(tracks, 1.5)
            .iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids, vec![1, 2, 3, 4]);
    }

    fn det(x: f64, y: f64, t: f64) -> Detection {
        Detection { x, y, t }
    }

    #[test]
    fn nearest_wins_and_each_track_takes_one_detection_per_frame() {
        // Two stars 2 px apart; in frame 1 both move a little; a third detection far away.
        let frames = vec![
            vec![det(10.0, 10.0, 0.0), det(12.0, 10.0, 0.0)],
            vec![
                det(12.2, 10.1, 0.5),
                det(9.9, 10.2, 0.5),
                det(40.0, 40.0, 0.5),
            ],
        ];
        let t = link(&frames, &TrackParams::default());
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].points, vec![(0, 0), (1, 1)]);
        assert_eq!(t[1].points, vec![(0, 1), (1, 0)]);
        assert_eq!(t[2].points, vec![(1, 2)]);
        assert_eq!(t[2].kind, TrackKind::Single);
    }

    #[test]
    fn box_is_per_axis_and_inclusive() {
        let frames = vec![
            vec![det(0.0, 0.0, 0.0)],
            vec![det(3.0, -3.0, 1.0)],
            vec![det(6.1, -3.0, 2.0)],
        ];
        let t = link(&frames, &TrackParams::default());
        // (3, −3) is inside the ±3 px box; 3.1 px further in x is not.
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].points, vec![(0, 0), (1, 0)]);
    }

    #[test]
    fn ties_are_deterministic() {
        // One detection exactly between two tracks: the lower track id takes it.
        let frames = vec![
            vec![det(0.0, 0.0, 0.0), det(2.0, 0.0, 0.0)],
            vec![det(1.0, 0.0, 1.0)],
        ];
        let t = link(&frames, &TrackParams::default());
        assert_eq!(t[0].points, vec![(0, 0), (1, 0)]);
        assert_eq!(t[1].points, vec![(0, 1)]);
    }

    #[test]
    fn a_missed_frame_rejoins_the_track() {
        let frames = vec![vec![det(5.0, 5.0, 0.0)], vec![], vec![det(5.1, 4.9, 1.0)]];
        let t = link(&frames, &TrackParams::default());
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].points, vec![(0, 0), (2, 0)]);
    }

    #[test]
    fn linear_motion_is_recovered_with_its_rate_and_direction() {
        // 0.8 px/s in x, 0.3 px/s in y over 12 frames at 0.5 s, with ±0.05 px alternating noise.
        let frames: Vec<Vec<Detection>> = (0..12)
            .map(|k| {
                let t = 0.5 * f64::from(k);
                let e = if k % 2 == 0 { 0.05 } else { -0.05 };
                vec![det(100.0 + 0.8 * t + e, 50.0 + 0.3 * t - e, t)]
            })
            .collect();
        let t = link(&frames, &TrackParams::default());
        assert_eq!(t.len(), 1);
        let m = t[0].motion.unwrap();
        assert_eq!(t[0].kind, TrackKind::Moving);
        assert!(
            (m.vx - 0.8).abs() < 3.0 * m.v_err && (m.vy - 0.3).abs() < 3.0 * m.v_err,
            "{m:?}"
        );
        assert!((m.rate - 0.8f64.hypot(0.3)).abs() < 0.02);
        assert!((m.direction - 0.3f64.atan2(0.8).to_degrees()).abs() < 1.0);
    }

    #[test]
    fn seeing_dance_does_not_move_a_static_star() {
        // Jitter of ±0.3 px and one 2.5 px outlier frame: static, median position.
        let offs = [
            0.1, -0.3, 0.2, 0.0, -0.1, 0.3, 2.5, -0.2, 0.1, 0.0, -0.1, 0.2,
        ];
        let frames: Vec<Vec<Detection>> = offs
            .iter()
            .enumerate()
            .map(|(k, o)| vec![det(20.0 + o, 30.0 - o, 0.5 * k as f64)])
            .collect();
        let t = link(&frames, &TrackParams::default());
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].kind, TrackKind::Static);
        assert!(
            (t[0].x - 20.05).abs() < 0.06 && (t[0].y - 29.95).abs() < 0.06,
            "{:?}",
            t[0]
        );
    }
}
