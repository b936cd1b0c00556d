// Archive page: DataTables in server-side mode over /api/dt/exposures.
$(function () {
  var $t = $('#exposures');
  if (!$t.length) return;
  var year = $t.data('year');
  var num = function (d) { return d === null || d === undefined ? '' : d; };
  var fix = function (n) { return function (d) { return d === null || d === undefined ? '' : Number(d).toFixed(n); }; };
  var columns = [
    { data: 'exp_id', render: function (d) { return '<a href="/exposure/' + d + '">' + d + '</a>'; } },
    { data: 'utc_start', render: function (d) { return d ? d.replace('T', ' ').slice(0, 19) : ''; } },
    { data: 'object', render: $.fn.dataTable.render.text() },
    { data: 'project', render: $.fn.dataTable.render.text() },
    { data: 'observer', render: $.fn.dataTable.render.text() },
    { data: 'data_typ', render: $.fn.dataTable.render.text() },
    { data: 'exptime', render: fix(3) },
    { data: 'n_frames', render: num },
    { data: 'fps', render: fix(2) },
    { data: 'nfits', render: num },
    { data: 'ra_tel', render: fix(5) },
    { data: 'dec_tel', render: fix(5) }
  ];
  var table = $t.DataTable({
    serverSide: true,
    processing: true,
    searchDelay: 300,
    pageLength: 50,
    lengthMenu: [25, 50, 100, 500],
    order: [[1, 'desc']],
    orderCellsTop: true,
    ajax: {
      url: '/api/dt/exposures',
      data: function (d) { d.year = year; },
      error: function (xhr) {
        var msg = (xhr.responseJSON && xhr.responseJSON.error) || xhr.statusText;
        $('#exposures_processing').hide();
        $('#error').remove();
        $t.before('<p id="error" class="error">' + $('<span>').text(msg).html() + '</p>');
      }
    },
    columns: columns
  });
  table.on('xhr', function () { $('#error').remove(); });
  var timer = null;
  $t.find('input.colsearch').on('input', function () {
    var input = this;
    clearTimeout(timer);
    timer = setTimeout(function () {
      var idx = $(input).closest('th').index();
      table.column(idx).search(input.value).draw();
    }, 250);
  }).on('click', function (e) { e.stopPropagation(); });
});
