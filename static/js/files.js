/* Files about to be sent, shown as removable chips: shared by the agent composer and the
 * website widget. A chip's remove button carries data-remove-file with the file's index. */
(function () {
  "use strict";

  function humanSize(bytes) {
    var lang = document.documentElement.lang || undefined;
    var units = [["gigabyte", 1e9], ["megabyte", 1e6], ["kilobyte", 1e3]];
    for (var i = 0; i < units.length; i++) {
      if (bytes >= units[i][1]) {
        try {
          return new Intl.NumberFormat(lang, { style: "unit", unit: units[i][0], maximumFractionDigits: 1 })
            .format(bytes / units[i][1]);
        } catch (e) {
          return (bytes / units[i][1]).toFixed(1) + " " + units[i][0].charAt(0).toUpperCase() + "B";
        }
      }
    }
    return bytes + " B";
  }

  function renderChips(list, files) {
    list.textContent = "";
    files.forEach(function (file, index) {
      var chip = document.createElement("li");
      chip.className = "attachment-chip";
      var name = document.createElement("span");
      name.className = "attachment-chip-name";
      name.textContent = file.name;
      var size = document.createElement("span");
      size.className = "attachment-chip-size";
      size.textContent = humanSize(file.size);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "attachment-chip-remove";
      remove.dataset.removeFile = String(index);
      remove.setAttribute("aria-label", (list.dataset.labelRemove || "Remove %(name)s").replace("%(name)s", file.name));
      remove.textContent = "×";
      chip.append(name, size, remove);
      list.appendChild(chip);
    });
    list.hidden = files.length === 0;
  }

  window.SwitchboardFiles = { humanSize: humanSize, renderChips: renderChips };
})();
