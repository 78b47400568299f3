/* Übersicht: draws the plots from the JSON in #overview-data with uPlot (vendor/) and asks
   for fresh figures every 30 s while the tab is visible. No inline script (CSP): the data
   comes as <script type="application/json">, the refresh as an htmx trigger. */
(function () {
  "use strict";

  var HEIGHT = 240;
  var plots = [];
  var lastRefresh = Date.now();

  function chartData() {
    var el = document.getElementById("overview-data");
    return el ? JSON.parse(el.textContent) : null;
  }

  // The colours of the status labels (app.css), so plot and legend agree.
  function colour(key) {
    var el = document.querySelector('.chart-legend [data-series="' + key + '"]');
    if (!el) return "#6b7280";
    var style = getComputedStyle(el);
    var bg = style.backgroundColor;
    if (bg === "rgb(255, 255, 255)" || bg === "rgba(0, 0, 0, 0)" || bg === "transparent") {
      return style.borderTopColor;
    }
    return bg;
  }

  function widthOf(area) {
    return Math.max(240, Math.floor(area.getBoundingClientRect().width));
  }

  function dayAxis(data) {
    return {
      values: function (u, splits) {
        return splits.map(function (i) { return data.labels[i] === undefined ? "" : data.labels[i]; });
      },
      space: 50,
    };
  }

  function xScale() {
    return { time: false };
  }

  function openDayOnClick(plot, data) {
    plot.over.addEventListener("click", function () {
      var idx = plot.cursor.idx;
      if (idx === null || idx === undefined) return;
      window.location.href = data.dayUrl.replace(/DAY/g, data.days[idx]);
    });
    plot.over.classList.add("chart-clickable");
  }

  function statusPlot(area, data) {
    var xs = data.days.map(function (_d, i) { return i; });
    // Stacked: each series is the sum of itself and those below it, drawn from the top down
    // so the lower ones paint over the lower part of each bar.
    var sums = [];
    var acc = xs.map(function () { return 0; });
    data.statuses.forEach(function (status) {
      acc = acc.map(function (value, i) { return value + status.counts[i]; });
      sums.push(acc);
    });
    var order = data.statuses.map(function (_s, i) { return i; }).reverse();
    var bars = uPlot.paths.bars({ size: [0.7, 40] });
    var series = [{}];
    var values = [xs];
    order.forEach(function (i) {
      var c = colour(data.statuses[i].key);
      series.push({ label: data.statuses[i].label, stroke: c, fill: c, paths: bars, points: { show: false } });
      values.push(sums[i]);
    });
    var plot = new uPlot({
      width: widthOf(area),
      height: HEIGHT,
      legend: { show: false },
      scales: { x: xScale(), y: { range: function (_u, _min, max) { return [0, Math.max(1, max)]; } } },
      axes: [dayAxis(data), { label: data.texts.count, size: 50 }],
      series: series,
    }, values, area);
    openDayOnClick(plot, data);
    return plot;
  }

  function deliveryPlot(area, data) {
    var xs = data.days.map(function (_d, i) { return i; });
    var plot = new uPlot({
      width: widthOf(area),
      height: HEIGHT,
      scales: { x: xScale(), rate: { range: [0, 100] }, minutes: { auto: true } },
      axes: [
        dayAxis(data),
        { scale: "rate", label: data.texts.rate, size: 50 },
        { scale: "minutes", side: 1, label: data.texts.median, size: 50, grid: { show: false } },
      ],
      series: [
        {},
        { label: data.texts.rate, scale: "rate", stroke: colour("delivered"), width: 2 },
        { label: data.texts.median, scale: "minutes", stroke: colour("sending"), width: 2, dash: [6, 4] },
      ],
    }, [xs, data.rate, data.medianMinutes], area);
    openDayOnClick(plot, data);
    return plot;
  }

  function signalPlot(area, data) {
    var xs = data.days.map(function (_d, i) { return i; });
    return new uPlot({
      width: widthOf(area),
      height: HEIGHT,
      scales: { x: xScale(), y: { range: [0, 31] } },
      axes: [dayAxis(data), { size: 40 }],
      series: [
        {},
        { label: data.texts.signalMin, stroke: colour("failed"), dash: [4, 4] },
        { label: data.texts.signalAvg, stroke: colour("delivered"), width: 2 },
        { label: data.texts.signalMax, stroke: colour("sending"), dash: [4, 4] },
      ],
    }, [xs, data.signal.min, data.signal.avg, data.signal.max], area);
  }

  var DRAW = { status: statusPlot, delivery: deliveryPlot, signal: signalPlot };

  function draw() {
    plots.forEach(function (entry) { entry.plot.destroy(); });
    plots = [];
    var data = chartData();
    if (!data || typeof uPlot === "undefined") return;
    document.querySelectorAll("figure[data-chart]").forEach(function (figure) {
      var area = figure.querySelector(".chart-area");
      var make = DRAW[figure.getAttribute("data-chart")];
      if (!area || !make) return;
      area.textContent = "";
      plots.push({ plot: make(area, data), area: area });
    });
  }

  function resize() {
    plots.forEach(function (entry) {
      entry.plot.setSize({ width: widthOf(entry.area), height: HEIGHT });
    });
  }

  function refresh(live) {
    lastRefresh = Date.now();
    htmx.trigger(live, "overview-refresh");
  }

  document.addEventListener("DOMContentLoaded", function () {
    var live = document.getElementById("overview-live");
    if (!live) return;
    draw();
    var every = (parseInt(live.getAttribute("data-refresh-seconds"), 10) || 30) * 1000;
    // Paused while the tab is hidden; on coming back, at once if a refresh is overdue.
    setInterval(function () {
      if (document.visibilityState === "visible") refresh(live);
    }, every);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && Date.now() - lastRefresh >= every) refresh(live);
    });
    var open = [];
    live.addEventListener("htmx:beforeSwap", function () {
      open = Array.prototype.map.call(live.querySelectorAll("details[open]"), function (d) { return d.id; });
    });
    live.addEventListener("htmx:afterSwap", function () {
      open.forEach(function (id) {
        var details = document.getElementById(id);
        if (details) details.open = true;
      });
      draw();
    });
    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(resize, 100);
    });
  });
})();
