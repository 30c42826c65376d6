// Sends a visitor to the default form in the first of their browser's languages the site has, or in
// the site's default language. The page lists every language and form as links, so it works
// without this script too.

function language(model) {
  var wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ""];
  for (var i = 0; i < wanted.length; i++) {
    var tag = String(wanted[i]).toLowerCase();
    var candidates = [tag, tag.split("-")[0]];
    for (var j = 0; j < candidates.length; j++) {
      var code = model.aliases[candidates[j]] || candidates[j];
      if (model.languages.indexOf(code) !== -1) return code;
    }
  }
  return model.defaultLanguage;
}

var model = JSON.parse(document.getElementById("site-model").textContent);
location.replace(language(model) + "/" + model.form + "/");
