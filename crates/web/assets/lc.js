// Light-curve pages: search, field, object, moving objects (see crates/web/src/lcpages.rs).
(function () {
  'use strict';
  var fix = function (n) { return function (d) { return d === null || d === undefined ? '' : Number(d).toFixed(n); }; };
  var txt = $.fn.dataTable.render.text();
  // Object ids and Gaia source_ids exceed 2^53: read them as strings, not as (rounded) numbers.
  var parse = function (text) {
    return JSON.parse(text.replace(/"(object_id|source_id)":(-?\d+)/g, '"$1":"$2"'));
  };
  var getJSON = function (url) {
    return fetch(url).then(function (r) {
      return r.text().then(parse).then(function (j) {
        if (!r.ok) throw new Error(j && j.error ? j.error : r.status + ' ' + r.statusText);
        return j;
      });
    });
  };
  var showError = function (el, e) { el.textContent = String(e.message || e); el.hidden = false; };
  var objLink = function (d) { return '<a href="/lc/object/' + encodeURIComponent(d) + '">' + txt.display(String(d)) + '</a>'; };
  var utc = function (d) { return d ? String(d).replace('T', ' ').replace(/Z$/, '').slice(0, 23) : ''; };

  // ---- search page ----
  $(function () {
    var form = document.getElementById('cone-form');
    if (!form) return;
    var err = document.getElementById('cone-error');
    var results = null;
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      err.hidden = true;
      var q = new URLSearchParams({
        ra: document.getElementById('cone-ra').value,
        dec: document.getElementById('cone-dec').value,
        radius: String(Number(document.getElementById('cone-radius').value || '60') / 3600),
        format: 'json'
      });
      var g = document.getElementById('cone-gaia').value;
      if (g) q.set('gaia', g);
      getJSON('/api/lc/cone?' + q).then(function (rows) {
        var $t = $('#cone-results');
        $t.prop('hidden', false);
        if (results) { results.clear().rows.add(rows).draw(); return; }
        results = $t.DataTable({
          data: rows,
          pageLength: 25,
          columns: [
            { data: 'object_id', render: objLink },
            { data: 'source_id', defaultContent: '', render: txt },
            { data: 'ra', render: fix(6) },
            { data: 'dec', render: fix(6) },
            { data: 'phot_g_mean_mag', defaultContent: '', render: fix(3) },
            { data: 'bp_rp', defaultContent: '', render: fix(3) },
            { data: 'wmean_mag', defaultContent: '', render: fix(3) },
            { data: 'std_mag', defaultContent: '', render: fix(3) },
            { data: 'chi2_red', defaultContent: '', render: fix(2) },
            { data: 'n_mag', defaultContent: '' }
          ]
        });
      }).catch(function (e) { showError(err, e); });
    });
    getJSON('/api/lc/calibration?format=json').then(function (rows) {
      $('#fields').DataTable({
        data: rows,
        pageLength: 25,
        order: [[2, 'desc']],
        columns: [
          { data: 'exp_id', render: function (d, t, r) { return '<a href="/lc/field/' + r.exp_id + '/' + r.det_id + '">' + d + '</a>'; } },
          { data: 'det_id', render: function (d, t, r) { return '<a href="/lc/field/' + r.exp_id + '/' + r.det_id + '">' + d + '</a>'; } },
          { data: 'time', render: utc },
          { data: 'night', render: txt },
          { data: 'n_static' },
          { data: 'n_gaia' },
          { data: 'n_moving' },
          { data: 'n_single' },
          { data: 'zp', defaultContent: '', render: fix(3) },
          { data: 'colour_term', defaultContent: '', render: fix(3) }
        ]
      });
    }).catch(function () { /* nothing published yet: the table stays empty */ });
  });

  // ---- field page ----
  var SVG = 'http://www.w3.org/2000/svg';
  var el = function (name, attrs) {
    var e = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  };
  $(function () {
    var dataEl = document.getElementById('field-data');
    if (!dataEl) return;
    var f = parse(dataEl.textContent);
    var img = document.getElementById('field-image');
    var svg = document.getElementById('overlay');
    var tip = document.getElementById('tip');
    var note = document.getElementById('field-note');
    // Chip pixels covered by the preview: it bins factor × factor blocks (the last block may be
    // partial), factor = ceil(max(width, height) / preview_max); FITS row 1 is at the bottom.
    var W = f.width, H = f.height;
    if (!(W > 0 && H > 0)) {
      W = 1; H = 1;
      f.sources.forEach(function (s) { W = Math.max(W, s.x + 2); H = Math.max(H, s.y + 2); });
    }
    var factor = Math.max(1, Math.ceil(Math.max(W, H) / f.preview_max));
    var VW = Math.ceil(W / factor) * factor, VH = Math.ceil(H / factor) * factor;
    svg.setAttribute('viewBox', '0 0 ' + VW + ' ' + VH);
    svg.setAttribute('preserveAspectRatio', 'none');
    var box = document.getElementById('field');
    var size = function () {
      // Fit the chip into the page width, at most 3 screen pixels per preview pixel.
      var avail = Math.max(200, box.parentElement.clientWidth - 4);
      var scale = Math.min(avail / VW, 3 / factor);
      box.style.width = (VW * scale) + 'px';
      box.style.height = (VH * scale) + 'px';
      return scale;
    };
    var scale = size();
    if (f.preview) {
      img.src = f.preview;
      img.hidden = false;
      img.addEventListener('error', function () { img.hidden = true; note.textContent = 'The image preview is not available.'; });
    } else {
      note.textContent = 'No archived image for this field: sources are drawn on a blank chip.';
    }
    var X = function (x) { return x + 0.5; };
    var Y = function (y) { return VH - (y + 0.5); };
    var r = 7 / scale; // marker size in chip pixels for ~7 screen pixels
    var sw = 1.6 / scale;
    var show = function (ev, lines) {
      tip.textContent = '';
      lines.forEach(function (l) { var d = document.createElement('div'); d.textContent = l; tip.appendChild(d); });
      var rect = box.getBoundingClientRect();
      tip.style.left = (ev.clientX - rect.left + 12) + 'px';
      tip.style.top = (ev.clientY - rect.top + 12) + 'px';
      tip.hidden = false;
    };
    var hide = function () { tip.hidden = true; };
    var num = function (v, n) { return v === null || v === undefined ? '—' : Number(v).toFixed(n); };
    f.sources.forEach(function (s) {
      var gaia = s.source_id !== null && s.source_id !== undefined;
      var a = el('a', { href: '/lc/object/' + s.object_id });
      var g = el('g', {
        'class': 'src ' + (gaia ? 'gaia' : 'nongaia'),
        'data-object': s.object_id, 'data-x': s.x, 'data-y': s.y
      });
      var cx = X(s.x), cy = Y(s.y);
      // Transparent disc: the hover and click target.
      g.appendChild(el('circle', { cx: cx, cy: cy, r: r * 1.3, fill: 'transparent', stroke: 'none' }));
      if (gaia) {
        g.appendChild(el('circle', { cx: cx, cy: cy, r: r, fill: 'none', stroke: '#1f6fff', 'stroke-width': sw }));
      } else {
        g.appendChild(el('path', {
          d: 'M' + (cx - r) + ' ' + cy + 'H' + (cx + r) + 'M' + cx + ' ' + (cy - r) + 'V' + (cy + r),
          stroke: '#1a9e3a', 'stroke-width': sw, fill: 'none'
        }));
      }
      var lines = ['object ' + s.object_id, gaia ? 'Gaia DR3 ' + s.source_id + ' · G ' + num(s.phot_g_mean_mag, 2) + ' · BP−RP ' + num(s.bp_rp, 2) : 'not in Gaia',
        'x ' + num(s.x + 1, 1) + ', y ' + num(s.y + 1, 1) + ' (FITS)', 'RA ' + num(s.ra, 5) + ', Dec ' + num(s.dec, 5), 'median mag ' + num(s.mag, 3) + ' · detected in ' + s.n_detected + ' frames'];
      g.addEventListener('mousemove', function (ev) { show(ev, lines); });
      g.addEventListener('mouseleave', hide);
      a.appendChild(g);
      svg.appendChild(a);
    });
    // Movers: one polyline per track with a square per point.
    var tracks = {};
    f.movers.forEach(function (m) { (tracks[m.track] = tracks[m.track] || []).push(m); });
    Object.keys(tracks).forEach(function (k) {
      var pts = tracks[k].sort(function (a, b) { return a.frame - b.frame; });
      var g = el('g', { 'class': 'mover', 'data-track': k });
      g.appendChild(el('polyline', { points: pts.map(function (p) { return X(p.x) + ',' + Y(p.y); }).join(' '), fill: 'none', stroke: '#ff8c00', 'stroke-width': sw }));
      pts.forEach(function (p) {
        g.appendChild(el('rect', { x: X(p.x) - r / 2, y: Y(p.y) - r / 2, width: r, height: r, fill: 'transparent', stroke: '#ff8c00', 'stroke-width': sw }));
      });
      var p0 = pts[0];
      var lines = ['moving track ' + k + ' · ' + pts.length + ' points', 'rate ' + num(p0.rate_arcsec_s, 2) + '″/s, direction ' + num(p0.direction_deg, 1) + '°', 'mag ' + num(p0.mag, 2)];
      g.addEventListener('mousemove', function (ev) { show(ev, lines); });
      g.addEventListener('mouseleave', hide);
      svg.appendChild(g);
    });
    f.singles.forEach(function (s) {
      var cx = X(s.x), cy = Y(s.y);
      var g = el('g', { 'class': 'single', 'data-x': s.x, 'data-y': s.y });
      g.appendChild(el('path', { d: 'M' + cx + ' ' + (cy - r) + 'L' + (cx + r) + ' ' + cy + 'L' + cx + ' ' + (cy + r) + 'L' + (cx - r) + ' ' + cy + 'Z', fill: 'transparent', stroke: '#d0209a', 'stroke-width': sw }));
      var lines = ['single event, frame ' + s.frame, 'x ' + num(s.x + 1, 1) + ', y ' + num(s.y + 1, 1) + ' (FITS)', 'mag ' + num(s.mag, 2)];
      g.addEventListener('mousemove', function (ev) { show(ev, lines); });
      g.addEventListener('mouseleave', hide);
      svg.appendChild(g);
    });
    document.body.setAttribute('data-field-ready', '1');
  });

  // ---- object page ----
  // The observing night at Kiso: the UTC date 3 h earlier (tomoe_core::time::NIGHT_START_UTC_HOURS).
  var nightOf = function (iso) {
    var t = Date.parse(String(iso).replace(/Z?$/, 'Z'));
    return new Date(t - 3 * 3600 * 1000).toISOString().slice(0, 10);
  };
  $(function () {
    var plot = document.getElementById('lc-plot');
    if (!plot) return;
    var id = plot.getAttribute('data-object');
    var cols = 'mjd,time,exp_id,det_id,frame,mag,mag_err,mag_inst,mag_inst_err,x,y,flags';
    getJSON('/api/lc/objects/' + encodeURIComponent(id) + '?format=json&columns=' + cols).then(function (rows) {
      rows.forEach(function (r) { r.night = nightOf(r.time); });
      var nights = Array.from(new Set(rows.map(function (r) { return r.night; }))).sort();
      var sel = document.getElementById('lc-night');
      nights.forEach(function (n) { var o = document.createElement('option'); o.value = n; o.textContent = n; sel.appendChild(o); });
      var table = $('#lc-table').DataTable({
        data: rows,
        pageLength: 25,
        columns: [
          { data: 'mjd', render: fix(7) }, { data: 'time', render: utc },
          { data: 'exp_id' }, { data: 'det_id' }, { data: 'frame' },
          { data: 'mag', defaultContent: '', render: fix(4) }, { data: 'mag_err', defaultContent: '', render: fix(4) },
          { data: 'mag_inst', defaultContent: '', render: fix(4) }, { data: 'mag_inst_err', defaultContent: '', render: fix(4) },
          { data: 'x', render: fix(2) }, { data: 'y', render: fix(2) }, { data: 'flags' }
        ]
      });
      var draw = function () {
        var inst = document.getElementById('lc-mag').value === 'inst';
        var utcAxis = document.getElementById('lc-time').value === 'utc';
        var night = sel.value;
        var rs = rows.filter(function (r) { return !night || r.night === night; });
        var m = inst ? 'mag_inst' : 'mag', e = inst ? 'mag_inst_err' : 'mag_err';
        var ok = rs.filter(function (r) { return r[m] !== null && r[m] !== undefined; });
        var trace = {
          type: 'scatter', mode: 'markers',
          x: ok.map(function (r) { return utcAxis ? utc(r.time) : r.mjd; }),
          y: ok.map(function (r) { return r[m]; }),
          error_y: { type: 'data', array: ok.map(function (r) { return r[e]; }), visible: true, thickness: 1, width: 0, color: '#8aa' },
          marker: { size: 5, color: '#14213d' },
          text: ok.map(function (r) { return 'exp ' + r.exp_id + ' chip ' + r.det_id + ' frame ' + r.frame; }),
          hovertemplate: '%{x}<br>%{y:.4f} ± %{error_y.array:.4f}<br>%{text}<extra></extra>'
        };
        Plotly.react(plot, [trace], {
          margin: { l: 60, r: 20, t: 20, b: 50 },
          xaxis: { title: { text: utcAxis ? 'UTC' : 'MJD' }, type: utcAxis ? 'date' : 'linear', tickformat: utcAxis ? undefined : '.5f' },
          yaxis: { title: { text: inst ? 'instrumental magnitude' : 'calibrated magnitude' }, autorange: 'reversed' },
          hovermode: 'closest'
        }, { displaylogo: false, responsive: true });
        table.search('').columns().search('');
        table.clear().rows.add(rs).draw();
        plot.setAttribute('data-points', String(ok.length));
      };
      ['lc-mag', 'lc-time', 'lc-night'].forEach(function (k) { document.getElementById(k).addEventListener('change', draw); });
      draw();
    }).catch(function (e) {
      var p = document.createElement('p'); p.className = 'error'; p.textContent = String(e.message || e); plot.appendChild(p);
    });
  });

  // ---- moving objects ----
  $(function () {
    var form = document.getElementById('movers-form');
    if (!form) return;
    var err = document.getElementById('movers-error');
    var table = null;
    var load = function () {
      err.hidden = true;
      var q = new URLSearchParams({ format: 'json' });
      var a = document.getElementById('mv-from').value, b = document.getElementById('mv-to').value;
      if (a) q.set('from', a);
      if (b) q.set('to', b);
      getJSON('/api/lc/movers?' + q).then(function (pts) {
        var by = {};
        pts.forEach(function (p) { var k = p.exp_id + '/' + p.det_id + '/' + p.track; (by[k] = by[k] || []).push(p); });
        var rows = Object.keys(by).map(function (k) {
          var ps = by[k].sort(function (x, y) { return x.frame - y.frame; });
          var mags = ps.map(function (p) { return p.mag; }).filter(function (v) { return v !== null && v !== undefined; }).sort(function (x, y) { return x - y; });
          var p0 = ps[0];
          return {
            exp_id: p0.exp_id, det_id: p0.det_id, track: p0.track, time: p0.time, n: ps.length, ra: p0.ra, dec: p0.dec,
            rate: p0.rate_arcsec_s, dir: p0.direction_deg, mag: mags.length ? mags[Math.floor(mags.length / 2)] : null
          };
        });
        if (table) { table.clear().rows.add(rows).draw(); return; }
        table = $('#movers').DataTable({
          data: rows,
          pageLength: 25,
          order: [[3, 'desc']],
          columns: [
            { data: 'exp_id', render: function (d, t, r) { return '<a href="/lc/field/' + r.exp_id + '/' + r.det_id + '">' + d + '</a>'; } },
            { data: 'det_id' }, { data: 'track' }, { data: 'time', render: utc }, { data: 'n' },
            { data: 'ra', render: fix(5) }, { data: 'dec', render: fix(5) },
            { data: 'rate', defaultContent: '', render: fix(2) }, { data: 'dir', defaultContent: '', render: fix(1) },
            { data: 'mag', defaultContent: '', render: fix(2) }
          ]
        });
      }).catch(function (e) { showError(err, e); });
    };
    form.addEventListener('submit', function (ev) { ev.preventDefault(); load(); });
    load();
  });
})();
