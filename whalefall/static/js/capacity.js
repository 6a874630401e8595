/* The capacity page: size over time from GET /scheduler/api/capacity, drawn with the vendored
 * Apache ECharts (one line per instance, or the one database chosen; legend, tooltips), plus the
 * largest and the fastest-growing databases of the latest period. Tooltips are built with DOM
 * calls (WF.el), so no data becomes markup. */
(function () {
  "use strict";

  var COLOURS = ["#0d6efd", "#d63384", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#dc3545", "#0dcaf0"];

  /** Bytes in binary units, as the server's `size` filter writes them. */
  function size(bytes) {
    if (bytes === null || bytes === undefined) return "";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], value = Number(bytes), i = 0;
    while (Math.abs(value) >= 1024 && i < units.length - 1) { value /= 1024; i += 1; }
    return i === 0 ? Math.trunc(value) + " B" : value.toFixed(1) + " " + units[i];
  }

  function change(point) {
    if (point.change_bytes === null || point.change_bytes === undefined) return WF.t("none");
    var text = (point.change_bytes > 0 ? "+" : point.change_bytes < 0 ? "−" : "") + size(Math.abs(point.change_bytes));
    if (point.change_percent !== null && point.change_percent !== undefined) {
      text += " (" + (point.change_percent > 0 ? "+" : "") + Number(point.change_percent).toFixed(1) + "%)";
    }
    return text;
  }

  /** A round step for about `count` ticks between 0 and max. */
  function niceStep(max, count) {
    var raw = max / count, power = Math.pow(10, Math.floor(Math.log10(raw))), unit = raw / power;
    return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
  }

  function seriesName(s) {
    return s.database ? s.instance_name + " / " + s.database : s.instance_name;
  }

  /** Bootstrap's colours of the current theme (light or dark), for what ECharts paints. */
  function palette() {
    var css = getComputedStyle(document.documentElement);
    var read = function (name) { return css.getPropertyValue(name).trim(); };
    return { text: read("--bs-body-color"), muted: read("--bs-secondary-color"), border: read("--bs-border-color"),
      background: read("--bs-body-bg"), font: getComputedStyle(document.body).fontFamily };
  }

  /** The tooltip of one period: its date, then each line's average size and change. */
  function tooltip(points, items) {
    if (!items.length) return "";
    var date = items[0].axisValue;
    var rows = items.map(function (item) {
      var point = points[item.seriesIndex][date];
      if (!point) return null;
      var swatch = WF.el("span", { class: "wf-chart-swatch", "aria-hidden": "true" });
      swatch.style.backgroundColor = item.color;
      return WF.el("div", { class: "wf-chart-tip-row", "data-series": item.seriesName }, [
        WF.el("div", { class: "fw-semibold" }, [swatch, item.seriesName]),
        WF.el("div", {}, WF.t("chart_value", { label: WF.t("avg_size"), value: size(point.avg_bytes) })),
        WF.el("div", {}, WF.t("chart_value", { label: WF.t("change"), value: change(point) })),
      ]);
    });
    return WF.el("div", { class: "wf-chart-tip" }, [WF.el("div", { class: "wf-chart-tip-date" }, date)].concat(rows));
  }

  /** The chart's option for these series: a category axis of period starts, sizes on a value
   *  axis with binary steps, one line per series (gaps joined), legend and axis tooltip. */
  function chartOption(series) {
    var dates = [];
    series.forEach(function (s) { s.points.forEach(function (p) { if (dates.indexOf(p.period_start) < 0) dates.push(p.period_start); }); });
    dates.sort();
    var max = 0;
    series.forEach(function (s) { s.points.forEach(function (p) { max = Math.max(max, p.avg_bytes || 0); }); });
    // Binary steps on the axis when it reads in KiB/MiB/GiB: ticks at 0, 256 MiB, 512 MiB…
    var base = Math.pow(1024, Math.max(0, Math.min(4, Math.floor(Math.log(Math.max(max, 1)) / Math.log(1024)))));
    var step = niceStep(Math.max(max, 1) / base, 5) * base;
    var top = Math.max(step, Math.ceil(max / step) * step);
    var points = series.map(function (s) {
      var byDate = {};
      s.points.forEach(function (p) { if (p.avg_bytes !== null && p.avg_bytes !== undefined) byDate[p.period_start] = p; });
      return byDate;
    });
    var colours = palette();
    var axisLine = { lineStyle: { color: colours.muted } };
    return {
      animation: !window.matchMedia("(prefers-reduced-motion: reduce)").matches,
      color: COLOURS,
      textStyle: { fontFamily: colours.font, fontSize: 12, color: colours.text },
      grid: { left: 12, right: 24, top: 16, bottom: 64, containLabel: true },
      legend: { type: "scroll", bottom: 0, textStyle: { color: colours.text }, pageTextStyle: { color: colours.text },
        inactiveColor: colours.muted },
      tooltip: {
        trigger: "axis", confine: true, className: "wf-chart-tooltip", backgroundColor: colours.background,
        borderColor: colours.border, textStyle: { color: colours.text, fontFamily: colours.font, fontSize: 12 },
        formatter: function (items) { return tooltip(points, [].concat(items)); },
      },
      xAxis: {
        type: "category", data: dates, boundaryGap: dates.length < 2, name: WF.t("period_start"),
        nameLocation: "middle", nameGap: 30, nameTextStyle: { color: colours.muted },
        axisLine: axisLine, axisTick: { alignWithLabel: true }, axisLabel: { color: colours.text, hideOverlap: true },
      },
      yAxis: {
        type: "value", min: 0, max: top, interval: step, axisLine: { show: true, lineStyle: axisLine.lineStyle },
        axisLabel: { color: colours.text, formatter: size }, splitLine: { lineStyle: { color: colours.border } },
      },
      series: series.map(function (s, index) {
        return {
          type: "line", name: seriesName(s), connectNulls: true, showSymbol: true, symbol: "circle", symbolSize: 6,
          data: dates.map(function (d) { return points[index][d] ? points[index][d].avg_bytes : null; }),
        };
      }),
    };
  }

  function fillRanking(table, rows) {
    var body = table.tBodies[0];
    body.replaceChildren();
    rows.forEach(function (r) {
      body.appendChild(WF.el("tr", {}, [
        WF.el("td", { class: "text-break" }, WF.el("a", { href: "/scheduler/instances/" + encodeURIComponent(r.instance_id) },
          r.instance_name)),
        WF.el("td", { class: "text-break" }, r.database),
        WF.el("td", { class: "text-nowrap" }, size(r.avg_bytes)),
        WF.el("td", { class: "text-nowrap" }, change(r)),
      ]));
    });
    table.closest("section").querySelector('[data-f="empty"]').classList.toggle("d-none", rows.length > 0);
  }

  /** A change in bytes with its sign, or "none". */
  function signed(bytes) {
    if (bytes === null || bytes === undefined) return WF.t("none");
    return (bytes > 0 ? "+" : bytes < 0 ? "−" : "") + size(Math.abs(bytes));
  }

  /** Growth and "days until full": one row per instance (closest to full first), and the chosen
   *  instance's databases under it; fewer days than the setting shows red. */
  function fillForecast(table, data) {
    var body = table.tBodies[0];
    body.replaceChildren();
    var growth = function (g, period) { return g && g[period] ? signed(g[period].change_bytes) : WF.t("none"); };
    data.instances.forEach(function (f) {
      if (f.used_bytes === null) return;
      var days;
      if (f.days_until_full !== null) {
        days = WF.el("span", { class: f.warning ? "text-danger fw-semibold" : "text-success", "data-f": "days_until_full",
          "data-warning": f.warning ? "true" : "false" }, WF.t("days_value", { n: Number(f.days_until_full).toFixed(1), date: f.full_date }));
      } else {
        days = WF.el("span", { class: "text-body-secondary", "data-f": "days_until_full" },
          f.disk_capacity_bytes ? WF.t("not_growing") : WF.t("no_capacity"));
      }
      var used = size(f.used_bytes) + (f.used_percent !== null ? " (" + f.used_percent + "%)" : "");
      body.appendChild(WF.el("tr", { "data-instance-id": String(f.instance_id), class: f.warning ? "table-danger" : "" }, [
        WF.el("td", { class: "text-break" }, WF.el("a", { href: "/scheduler/instances/" + encodeURIComponent(f.instance_id) },
          f.instance_name)),
        WF.el("td", {}, WF.t("all_databases")),
        WF.el("td", { class: "text-nowrap" }, used),
        WF.el("td", { class: "text-nowrap" }, f.disk_capacity_bytes ? size(f.disk_capacity_bytes) : WF.t("none")),
        WF.el("td", { class: "text-nowrap" }, signed(f.growth_per_day_bytes)),
        WF.el("td", { class: "text-nowrap d-none d-md-table-cell" }, growth(f.growth, "weekly")),
        WF.el("td", { class: "text-nowrap d-none d-md-table-cell" }, growth(f.growth, "monthly")),
        WF.el("td", { class: "text-nowrap" }, days),
      ]));
      (f.databases || []).forEach(function (d) {
        body.appendChild(WF.el("tr", { "data-database": d.database }, [
          WF.el("td", {}, ""),
          WF.el("td", { class: "text-break" }, d.database),
          WF.el("td", { class: "text-nowrap" }, size(d.used_bytes)),
          WF.el("td", {}, ""),
          WF.el("td", { class: "text-nowrap" }, signed(d.growth_per_day_bytes)),
          WF.el("td", { class: "text-nowrap d-none d-md-table-cell" }, growth(d.growth, "weekly")),
          WF.el("td", { class: "text-nowrap d-none d-md-table-cell" }, growth(d.growth, "monthly")),
          WF.el("td", {}, ""),
        ]));
      });
    });
    table.closest("section").querySelector('[data-f="empty"]').classList.toggle("d-none", body.rows.length > 0);
  }

  WF.ready(function () {
    var form = document.getElementById("capacity-form");
    var instance = document.getElementById("c-instance");
    var database = document.getElementById("c-database");
    var period = document.getElementById("c-period");
    var caption = document.getElementById("chart-caption");
    var box = document.getElementById("chart");
    var empty = document.getElementById("chart-empty");
    var chart = null, shown = null;

    /** Draw these series (ECharts is set up on first use, in the page's language), or none. */
    function draw(series) {
      shown = series;
      box.classList.toggle("d-none", !series);
      if (!series) { if (chart) chart.clear(); return; }
      if (!chart) chart = echarts.init(box, null, { locale: document.documentElement.lang === "en" ? "EN" : "ZH" });
      chart.setOption(chartOption(series), { notMerge: true });
      chart.resize();
    }
    new ResizeObserver(function () { if (chart) chart.resize(); }).observe(box);
    // The theme follows the system setting (api.js): repaint in its colours.
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", function () { if (shown) draw(shown); });

    /** The chosen instance's databases in the second list (kept selected when still there). */
    async function loadDatabases(selected) {
      database.replaceChildren(WF.el("option", { value: "" }, WF.t("all_databases")));
      database.disabled = !instance.value;
      if (!instance.value) return;
      try {
        var envelope = await WF.api("GET", "/instances/" + encodeURIComponent(instance.value) +
          "/databases?include_gone=true&per_page=1000");
        envelope.data.databases.forEach(function (d) {
          database.appendChild(WF.el("option", { value: d.name, selected: d.name === selected }, d.name));
        });
      } catch (error) {
        WF.toast(error.message, "danger");
      }
    }

    async function show() {
      var query = new URLSearchParams({ period: period.value, top: "10" });
      if (instance.value) query.set("instance_id", instance.value);
      if (instance.value && database.value) query.set("database", database.value);
      var pageQuery = new URLSearchParams(query);
      pageQuery.delete("top");
      var csv = new URLSearchParams(pageQuery);  // the same series, as a file
      csv.set("format", "csv");
      document.getElementById("capacity-csv").href = "/scheduler/api/capacity?" + csv.toString();
      history.replaceState(null, "", location.pathname + "?" + pageQuery.toString());
      // The language switch reloads this page: with this choice, not the one it was loaded with.
      var switchLang = document.getElementById("wf-lang");
      if (switchLang) {
        var target = new URL(switchLang.href);
        pageQuery.set("lang", target.searchParams.get("lang"));
        target.search = pageQuery.toString();
        switchLang.href = target.toString();
      }
      caption.textContent = WF.t("loading");
      try {
        var data = (await WF.api("GET", "/capacity?" + query.toString())).data;
        var what = database.value && instance.value ? instance.selectedOptions[0].textContent + " / " + database.value
          : instance.value ? instance.selectedOptions[0].textContent : WF.t("all_instances_chart");
        caption.textContent = WF.t("chart_label", { what: what, period: WF.t("period_" + data.period) });
        var hasPoints = data.series.some(function (s) { return s.points.length > 0; });
        empty.classList.toggle("d-none", hasPoints);
        draw(hasPoints ? data.series : null);
        document.getElementById("ranking-period").textContent =
          data.period_start ? WF.t("latest_period", { date: data.period_start }) : "";
        fillRanking(document.getElementById("largest"), data.largest || []);
        fillRanking(document.getElementById("fastest"), data.fastest_growing || []);
        var forecastQuery = instance.value ? "?instance_id=" + encodeURIComponent(instance.value) : "";
        fillForecast(document.getElementById("forecast"), (await WF.api("GET", "/capacity/forecast" + forecastQuery)).data);
      } catch (error) {
        caption.textContent = error.message;
        WF.toast(error.message, "danger");
      }
    }

    instance.addEventListener("change", async function () { await loadDatabases(""); show(); });
    database.addEventListener("change", show);
    period.addEventListener("change", show);
    form.addEventListener("submit", function (event) { event.preventDefault(); show(); });
    loadDatabases(database.dataset.selected).then(show);
  });
})();
