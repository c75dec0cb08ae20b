// Charts of the report pages and the dashboard (cloud/reports/charts.py): each figure holds a
// canvas and its figures in a <script type="application/json"> block (the Content-Security-
// Policy allows scripts only from /static, so nothing inline runs). Chart.js
// (static/vendor/chartjs, shipped with the package) draws them with both axes; day labels skip
// and turn so that they never overlap; the tooltip is an element of the page (readable by a
// screen reader and by the tests) showing the server's own text of the value. The same numbers
// are in the table under the chart.
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") { return; }
  var Chart = window.Chart;
  // Money the Russian way on the axis: roubles with thin groups and the sign (12 500 ₽).
  var roubles = new Intl.NumberFormat("ru-RU", {
    style: "currency", currency: "RUB", maximumFractionDigits: 0, minimumFractionDigits: 0
  });
  var integers = new Intl.NumberFormat("ru-RU", { maximumFractionDigits: 0 });

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function axisText(unit, value) {
    if (unit === "money") { return roubles.format(value / 100); }
    if (unit === "duration") {
      var minutes = Math.round(value / 60);
      return Math.floor(minutes / 60) + ":" + pad(minutes % 60);
    }
    return integers.format(value);
  }

  function clip(text, size) {
    text = String(text);
    return text.length <= size ? text : text.slice(0, size - 1) + "\u2026";
  }

  function showTooltip(box, data, context) {
    var tip = box.querySelector(".chart-tooltip");
    var model = context.tooltip;
    if (!tip) { return; }
    if (!model || model.opacity === 0 || !model.dataPoints || !model.dataPoints.length) {
      tip.hidden = true;
      return;
    }
    var index = model.dataPoints[0].dataIndex;
    tip.textContent = "";
    var title = document.createElement("strong");
    title.textContent = data.labels[index];
    var value = document.createElement("span");
    value.className = "chart-tooltip-value";
    value.textContent = data.texts[index];
    tip.appendChild(title);
    tip.appendChild(document.createElement("br"));
    tip.appendChild(value);
    tip.hidden = false;
    var canvas = context.chart.canvas;
    var width = tip.offsetWidth;
    var left = Math.min(Math.max(model.caretX - width / 2, 0), canvas.clientWidth - width);
    tip.style.left = Math.max(left, 0) + "px";
    tip.style.top = Math.max(model.caretY - tip.offsetHeight - 8, 0) + "px";
  }

  function draw(box) {
    var block = box.querySelector("script.chart-data");
    var canvas = box.querySelector("canvas");
    if (!block || !canvas) { return; }
    var data = JSON.parse(block.textContent);
    var columns = data.kind === "columns";
    var valueAxis = columns ? "y" : "x";
    var labelAxis = columns ? "x" : "y";
    var scales = {};
    scales[valueAxis] = {
      beginAtZero: true,
      grace: "5%",
      title: { display: Boolean(data.value_axis), text: data.value_axis },
      ticks: {
        maxTicksLimit: 6,
        callback: function (value) { return axisText(data.unit, value); }
      }
    };
    scales[labelAxis] = {
      title: { display: Boolean(data.label_axis), text: data.label_axis },
      grid: { display: false },
      ticks: columns
        ? { autoSkip: true, autoSkipPadding: 6, maxRotation: 60, minRotation: 0 }
        : {
          autoSkip: false,
          callback: function (value) { return clip(data.labels[value], 28); }
        }
    };
    var chart = new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [{
          label: data.series,
          data: data.values,
          backgroundColor: "#0b6fb8",
          hoverBackgroundColor: "#084f85",
          borderRadius: 2,
          minBarLength: 1
        }]
      },
      options: {
        indexAxis: labelAxis,
        locale: "ru-RU",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "nearest", axis: labelAxis, intersect: false },
        scales: scales,
        plugins: {
          legend: { display: false },
          tooltip: {
            enabled: false,
            external: function (context) { showTooltip(box, data, context); }
          }
        }
      }
    });
    canvas.addEventListener("mouseleave", function () {
      var tip = box.querySelector(".chart-tooltip");
      if (tip) { tip.hidden = true; }
    });
    return chart;
  }

  Array.prototype.forEach.call(document.querySelectorAll("figure.chart-box"), draw);
}());
