/* Draws the dashboard's charts (uPlot) from the JSON the server embedded in the page. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var fmt = new Intl.NumberFormat("vi-VN");

  document.querySelectorAll("[data-share]").forEach(function (el) {
    el.style.width = Math.max(0, Math.min(100, parseFloat(el.dataset.share) || 0)) + "%";
  });

  function width(el) { return Math.max(320, el.clientWidth); }
  function epoch(isoDay) { return Date.parse(isoDay + "T00:00:00Z") / 1000; }
  var axis = { stroke: "#66708a", grid: { stroke: "#e9edf3" }, ticks: { stroke: "#e3e7ef" },
               values: function (u, vals) { return vals.map(function (v) { return v == null ? "" : fmt.format(v); }); } };

  var growthEl = document.getElementById("growth-chart");
  var months = data.months;
  var growthChart = new uPlot({
    width: width(growthEl), height: 280,
    scales: { x: { time: true } },
    series: [
      { label: "Tháng", value: function (u, v) { return v == null ? "" : new Date(v * 1000).toISOString().slice(0, 7); } },
      { label: "Đã kích hoạt", stroke: "#1f6feb", width: 2.5, fill: "rgba(31,111,235,0.08)",
        points: { size: 6, fill: "#1f6feb" }, value: function (u, v) { return v == null ? "—" : fmt.format(v); } },
      { label: "Mục tiêu (" + (data.target * 100).toFixed(1) + " %/tháng)", stroke: "#b3121b", width: 2,
        dash: [6, 5], points: { show: false }, value: function (u, v) { return v == null ? "—" : fmt.format(v); } }
    ],
    axes: [{ stroke: "#66708a", grid: { show: false }, values: "{MM}/{YYYY}" }, Object.assign({ size: 70 }, axis)]
  }, [months.map(function (m) { return epoch(m.month + "-01"); }),
      months.map(function (m) { return m.active_total; }),
      months.map(function (m) { return m.target_total; })], growthEl);

  var dailyEl = document.getElementById("daily-chart");
  var days = data.days;
  var bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.6, 40] }) : null;
  var dailyChart = new uPlot({
    width: width(dailyEl), height: 200,
    scales: { x: { time: true } },
    series: [
      { label: "Ngày", value: function (u, v) { return v == null ? "" : new Date(v * 1000).toISOString().slice(0, 10); } },
      { label: "Đăng ký", stroke: "#8aa9e6", fill: "rgba(31,111,235,0.35)", paths: bars, points: { show: false } },
      { label: "Kích hoạt", stroke: "#1a7f4b", width: 2, points: { show: false } }
    ],
    axes: [{ stroke: "#66708a", grid: { show: false }, values: "{DD}/{MM}" }, Object.assign({ size: 60 }, axis)]
  }, [days.map(function (d) { return epoch(d.day); }),
      days.map(function (d) { return d.registered; }),
      days.map(function (d) { return d.activated; })], dailyEl);

  window.addEventListener("resize", function () {
    growthChart.setSize({ width: width(growthEl), height: 280 });
    dailyChart.setSize({ width: width(dailyEl), height: 200 });
  });
})();
